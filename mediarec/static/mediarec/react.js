// Like / dislike without a page reload; the form still works without JavaScript.
document.querySelectorAll("form[data-react]").forEach((form) => {
  const status = form.querySelector(".status");
  form.querySelectorAll("button[name=kind]").forEach((button) => {
    button.addEventListener("click", async (event) => {
      event.preventDefault();
      const body = new FormData(form);
      body.set("kind", button.value);
      const response = await fetch(form.action, {
        method: "POST",
        body,
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const data = await response.json();
      if (!response.ok) {
        status.textContent = data.detail || "Something went wrong.";
        return;
      }
      form.querySelectorAll("button[name=kind]").forEach((b) => {
        const on = b.value === data.reaction;
        b.classList.toggle("on", on);
        b.setAttribute("aria-pressed", on ? "true" : "false");
      });
      status.textContent = data.reaction === "like" ? "Liked — your feed will show more like this." : "Got it — you'll see less like this.";
    });
  });
});
