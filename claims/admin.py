"""The Django admin's views of ClaimDesk's data, for admins (see admin_site.py).

The claim list here is the plain Django changelist; bench/queue.py measures the queue against
it with the same filter.
"""

from django.contrib import admin

from .models import CannedReason, Claim


@admin.register(Claim)
class ClaimAdmin(admin.ModelAdmin):
    list_display = ["return_code", "package_item", "type", "status", "created_at", "updated_at"]
    list_filter = ["status", "type"]
    search_fields = ["return_code", "return_tracking_number", "package_item", "product"]
    ordering = ["created_at", "id"]
    readonly_fields = [field.name for field in Claim._meta.fields]

    def has_add_permission(self, request):
        # Claims come from the Seller Center; only a sync creates or changes one.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CannedReason)
class CannedReasonAdmin(admin.ModelAdmin):
    list_display = ["text", "created_by", "created_at"]
    search_fields = ["text"]
