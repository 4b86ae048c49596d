// ClaimDesk's small amount of browser behaviour: evidence image previews, and telling the
// user when an htmx request fails instead of silently doing nothing.
(function () {
  "use strict";

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
      thumb.src = value;
      thumb.hidden = false;
    } else {
      thumb.removeAttribute("src");
      thumb.hidden = true;
    }
  }

  function addImageInput(list) {
    var items = list.querySelectorAll(".image-item");
    if (items.length >= Number(list.dataset.max || 10)) return;
    var copy = items[items.length - 1].cloneNode(true);
    var input = copy.querySelector("input");
    input.value = "";
    input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/\d+$/, String(items.length + 1)));
    previewImage(input);
    list.appendChild(copy);
    input.focus();
  }

  function removeImageInput(item) {
    var list = item.parentElement;
    if (list.querySelectorAll(".image-item").length > 1) {
      item.remove();
    } else {
      var input = item.querySelector("input");
      input.value = "";
      previewImage(input);
    }
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

  document.addEventListener("input", function (event) {
    if (event.target.matches(".image-item input")) previewImage(event.target);
  });

  document.addEventListener("click", function (event) {
    var add = event.target.closest(".add-image");
    if (add) addImageInput(add.parentElement.querySelector(".image-list"));
    var remove = event.target.closest(".remove-image");
    if (remove) removeImageInput(remove.closest(".image-item"));
  });

  document.addEventListener("htmx:load", function (event) {
    event.detail.elt.querySelectorAll(".image-item input").forEach(previewImage);
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id === "detail-pane") {
      var article = event.detail.target.querySelector(".claim-detail");
      var invalid = event.detail.target.querySelector("[aria-invalid='true']");
      (invalid || article) && (invalid || article).focus();
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var text = document.body.dataset.msgError || "Something went wrong.";
    if (status === 403) text = document.body.dataset.msgForbidden || text;
    showFlash(text + " (" + status + ")", "error");
  });

  document.addEventListener("htmx:sendError", function () {
    showFlash(document.body.dataset.msgOffline || "ClaimDesk could not be reached.", "error");
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
    }
  });
})();
