// Client-side routing over the History API: the server answers the console's paths with the page
// (docs/console.md), and links inside it move without a reload.

class Route {
  path = $state(location.pathname);
}

export const route = new Route();

export function go(path: string) {
  if (path !== location.pathname + location.search) history.pushState(null, "", path);
  route.path = location.pathname;
}

addEventListener("popstate", () => (route.path = location.pathname));

/** A link's click handler: in-app navigation for plain left clicks. */
export function link(event: MouseEvent) {
  const anchor = event.currentTarget as HTMLAnchorElement;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  go(anchor.getAttribute("href") ?? "/");
}
