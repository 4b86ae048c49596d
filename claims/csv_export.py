"""CSV downloads that spreadsheets open safely and that never sit whole in memory."""

import csv

from django.http import StreamingHttpResponse

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_BYTES = 64 * 1024


def safe_cell(value):
    """Text that a spreadsheet would run as a formula gets a leading quote; numbers stay."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Line:
    """csv.writer writes each row here and gets the text back, so nothing accumulates."""

    def write(self, text):
        return text


def csv_chunks(header, rows, chunk_bytes=CHUNK_BYTES):
    """The CSV text in pieces of about `chunk_bytes`: one write per row would be slow."""
    writer = csv.writer(_Line())
    lines, size = [writer.writerow(header)], 0
    for row in rows:
        line = writer.writerow([safe_cell(value) for value in row])
        lines.append(line)
        size += len(line)
        if size >= chunk_bytes:
            yield "".join(lines)
            lines, size = [], 0
    yield "".join(lines)


def streaming_csv(filename, header, rows):
    """A download of `rows` (any iterable of lists), written out as it is read."""
    response = StreamingHttpResponse(csv_chunks(header, rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
