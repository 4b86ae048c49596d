// ClaimDesk's browser behaviour on top of htmx: evidence image rows and previews, saved
// reasons, polling while the tab is visible, the keyboard loop, focus after each swap, and
// telling the user when a request fails instead of silently doing nothing.
(function () {
  "use strict";

  var POLL_EVENT = "claimdesk:poll";
  var currentClaimId = null;

  // ------------------------------------------------------------------ evidence images

  function isHttpsUrl(value) {
    try {
      var url = new URL(value);
      return url.protocol === "https:" && url.hostname !== "";
    } catch (error) {
      return false;
    }
  }

  function previewImage(input) {
    var thumb = input.parentElement.querySelector(".thumb");
    if (!thumb) return;
    var value = input.value.trim();
    if (isHttpsUrl(value)) {
      if (thumb.getAttribute("src") !== value) thumb.src = value;
      thumb.hidden = false;
    } else {
      thumb.removeAttribute("src");
      thumb.hidden = true;
    }
  }

  // Labels carry the row's number ("Image URL 2"); keep them in order after adds and removes.
  function renumber(list) {
    list.querySelectorAll(".image-item").forEach(function (item, index) {
      var number = String(index + 1);
      item.querySelector("input").setAttribute("aria-label", list.dataset.labelUrl + " " + number);
      item.querySelector(".remove-image").setAttribute("aria-label", list.dataset.labelRemove + " " + number);
      item.querySelector(".thumb").setAttribute("alt", list.dataset.labelPreview + " " + number);
    });
    var add = list.parentElement.querySelector(".add-image");
    if (add) add.hidden = list.querySelectorAll(".image-item").length >= Number(list.dataset.max || 10);
  }

  function addImageInput(list) {
    var items = list.querySelectorAll(".image-item");
    if (items.length >= Number(list.dataset.max || 10)) return;
    var copy = items[items.length - 1].cloneNode(true);
    copy.querySelectorAll(".field-error").forEach(function (error) { error.remove(); });
    var input = copy.querySelector("input");
    input.value = "";
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
    list.appendChild(copy);
    renumber(list);
    previewImage(input);
    input.focus();
  }

  function removeImageInput(item) {
    var list = item.parentElement;
    var items = list.querySelectorAll(".image-item");
    if (items.length > 1) {
      var next = item.nextElementSibling || item.previousElementSibling;
      item.remove();
      renumber(list);
      next.querySelector("input").focus();
    } else {
      var input = item.querySelector("input");
      input.value = "";
      previewImage(input);
      input.focus();
    }
  }

  function useSuggestion(select) {
    var target = document.getElementById(select.dataset.fills);
    if (!target || !select.value) return;
    target.value = select.value;
    target.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // ------------------------------------------------------------------ messages

  function message(name, fallback) {
    var holder = document.querySelector(".workspace");
    return (holder && holder.dataset[name]) || document.body.dataset[name] || fallback;
  }

  function showFlash(text, level) {
    var area = document.getElementById("flash");
    if (!area) return;
    var note = document.createElement("p");
    note.className = "flash flash-" + level;
    note.textContent = text;
    area.appendChild(note);
    setTimeout(function () { note.remove(); }, 8000);
  }

  function expireAnnouncements() {
    document.querySelectorAll("#flash .announcement:not([data-expires])").forEach(function (note) {
      note.dataset.expires = "set";
      setTimeout(function () { note.remove(); }, 10000);
    });
  }

  // ------------------------------------------------------------------ polling

  // Each element with hx-trigger="claimdesk:poll" and data-poll-seconds is asked to reload
  // on its own schedule, only while the page is visible, and at once when it becomes so.
  var lastPolled = new WeakMap();

  function pollDue(force) {
    if (document.visibilityState !== "visible" || !window.htmx) return;
    var now = Date.now();
    document.querySelectorAll("[data-poll-seconds]").forEach(function (element) {
      var every = Number(element.dataset.pollSeconds) * 1000;
      if (!lastPolled.has(element)) lastPolled.set(element, now);
      if (force || now - lastPolled.get(element) >= every) {
        lastPolled.set(element, now);
        htmx.trigger(element, POLL_EVENT);
      }
    });
  }

  function refreshResults() {
    var poll = document.getElementById("queue-poll");
    if (poll && window.htmx) htmx.trigger(poll, POLL_EVENT);
  }

  // ------------------------------------------------------------------ the queue and keys

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue-results .claim-row"));
  }

  // A row's id is "claim-row-" and the claim's id.
  function rowClaimId(row) {
    return row.id.slice("claim-row-".length);
  }

  function markCurrent(claimId) {
    currentClaimId = claimId;
    rows().forEach(function (row) {
      var isCurrent = rowClaimId(row) === claimId;
      row.classList.toggle("current", isCurrent);
      var link = row.querySelector(".open-claim");
      if (link) {
        if (isCurrent) link.setAttribute("aria-current", "true");
        else link.removeAttribute("aria-current");
      }
    });
  }

  function moveSelection(step) {
    var list = rows();
    if (!list.length) return;
    var index = list.findIndex(function (row) { return rowClaimId(row) === currentClaimId; });
    var next = index === -1 ? (step > 0 ? 0 : list.length - 1) : Math.min(Math.max(index + step, 0), list.length - 1);
    var row = list[next];
    markCurrent(rowClaimId(row));
    row.querySelector(".open-claim").focus();
    row.scrollIntoView({ block: "nearest" });
  }

  function isTyping(target) {
    return target.closest("input, textarea, select, [contenteditable='true']") !== null;
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var dialog = document.getElementById("keys-help");
    if (dialog && dialog.open) return;
    if (event.key === "Escape" && isTyping(event.target)) {
      event.target.blur();
      var row = document.querySelector("#queue-results .claim-row.current .open-claim");
      (row || document.getElementById("queue-heading")).focus();
      return;
    }
    if (isTyping(event.target)) return;
    var handled = true;
    switch (event.key) {
      case "j": moveSelection(1); break;
      case "k": moveSelection(-1); break;
      case "/": focusSearch(); break;
      case "?": showKeys(); break;
      case "a": clickIfThere("#approve-button"); break;
      case "r": focusIfThere("#id_reason"); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  }

  function focusSearch() {
    var search = document.getElementById("id_q");
    if (search) { search.focus(); search.select(); }
  }

  function showKeys() {
    var dialog = document.getElementById("keys-help");
    if (dialog && !dialog.open) dialog.showModal();
  }

  function clickIfThere(selector) {
    var element = document.querySelector(selector);
    if (element) element.click();
  }

  function focusIfThere(selector) {
    var element = document.querySelector(selector);
    if (element) { element.focus(); element.scrollIntoView({ block: "center" }); }
  }

  // Drop empty filters from the URL htmx pushes, so shared links stay short.
  function tidyQuery(event) {
    if (event.detail.verb !== "get" || !event.detail.elt.closest("#queue-filters")) return;
    var data = event.detail.formData;
    if (!data) return;
    var empty = [];
    data.forEach(function (value, name) { if (value === "") empty.push(name); });
    empty.forEach(function (name) { data.delete(name); });
    var statuses = data.getAll("status");
    if (statuses.length > 1) {
      data.delete("status");
      statuses.filter(function (s) { return s !== "all"; }).forEach(function (s) { data.append("status", s); });
    }
  }

  function afterSwap(event) {
    var target = event.detail.target;
    if (target.id === "detail-pane") {
      var article = target.querySelector(".claim-detail");
      if (article) markCurrent(article.dataset.claimId);
      var invalid = target.querySelector("[aria-invalid='true']");
      var focus = invalid || article;
      if (focus) focus.focus();
    }
    if (target.id === "queue-results" || target.id === "queue") {
      if (currentClaimId) markCurrent(currentClaimId);
    }
    expireAnnouncements();
  }

  // When a sync that was running finishes, show its claims at once rather than at the next poll.
  var lastOutcome = null;

  function watchFreshness() {
    var element = document.getElementById("freshness");
    if (!element) return;
    var outcome = element.dataset.outcome;
    if (lastOutcome === "running" && outcome !== "running") refreshResults();
    lastOutcome = outcome;
  }

  // The header's links are rendered with the page; after htmx has moved on (a claim opened,
  // a filter set), the preferences page should still lead back to what is shown now.
  function keepPlace(link) {
    var url = new URL(link.href, window.location.href);
    url.searchParams.set("next", window.location.pathname + window.location.search);
    link.href = url.toString();
  }

  function onResponseError(event) {
    var status = event.detail.xhr.status;
    var text = message("msgError", "Something went wrong.");
    if (status === 403) text = message("msgForbidden", text);
    if (status === 404) text = message("msgNotfound", text);
    if (status >= 500) text = message("msgServer", text);
    showFlash(text + " (" + status + ")", "error");
  }

  // ------------------------------------------------------------------ wiring

  document.addEventListener("input", function (event) {
    if (event.target.matches(".image-item input")) previewImage(event.target);
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches(".reason-suggestion")) useSuggestion(event.target);
  });

  document.addEventListener("click", function (event) {
    var add = event.target.closest(".add-image");
    if (add) addImageInput(add.parentElement.querySelector(".image-list"));
    var remove = event.target.closest(".remove-image");
    if (remove) removeImageInput(remove.closest(".image-item"));
    if (event.target.closest(".show-keys")) showKeys();
    var preferencesLink = event.target.closest(".preferences-link");
    if (preferencesLink) keepPlace(preferencesLink);
    var open = event.target.closest(".open-claim");
    if (open) markCurrent(rowClaimId(open.closest(".claim-row")));
  });

  document.addEventListener("keydown", onKey);

  document.addEventListener("htmx:load", function (event) {
    event.detail.elt.querySelectorAll(".image-item input").forEach(previewImage);
    event.detail.elt.querySelectorAll(".image-list").forEach(renumber);
  });

  document.addEventListener("htmx:configRequest", tidyQuery);
  document.addEventListener("htmx:afterSwap", afterSwap);
  document.addEventListener("htmx:afterSettle", watchFreshness);
  document.addEventListener("htmx:responseError", onResponseError);
  document.addEventListener("htmx:sendError", function () {
    showFlash(message("msgOffline", "ClaimDesk could not be reached."), "error");
  });
  document.addEventListener("visibilitychange", function () { pollDue(true); });
  document.addEventListener("htmx:historyRestore", function () {
    var article = document.querySelector("#detail-pane .claim-detail");
    markCurrent(article ? article.dataset.claimId : null);
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      // Validation errors come back as 422 with the form re-rendered: show them.
      htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "422", swap: true },
        { code: "[45]..", swap: false, error: true },
      ];
      // Back and Forward ask the server for the whole page at that URL instead of replaying a
      // snapshot: a snapshot holds the form as last rendered, not as the user left it, and
      // would keep customers' words in the browser's session storage.
      htmx.config.historyCacheSize = 0;
    }
    var article = document.querySelector("#detail-pane .claim-detail");
    if (article) markCurrent(article.dataset.claimId);
    watchFreshness();
    setInterval(pollDue, 1000);
  });
})();
