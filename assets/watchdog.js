// Connection watchdog: when the server connection is lost (the server restarted, the network went away),
// wait until the server answers again and reload the page, so a kiosk or a representative's screen
// recovers without anyone touching it; the URL keeps the selected customer. A reload is used rather than
// resuming the old session because after a restart that session no longer exists on the server.
const PROBE_MS = 3000;

export function render({ model }) {
  let probe = null;
  const recoverWhenBack = () => {
    if (probe !== null) return;
    probe = setInterval(() => {
      fetch(window.location.href, { cache: "no-store" })
        .then((response) => {
          if (response.ok) {
            clearInterval(probe);
            window.location.reload();
          }
        })
        .catch(() => {});
    }, PROBE_MS);
  };
  model.document.on_event("connection_lost", recoverWhenBack);
  return document.createElement("span");
}
