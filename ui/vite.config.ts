import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The console is served by the switchboard binary from the committed `dist/` (embedded at build
// time): no inline script or style, nothing from another origin (docs/console.md).
export default defineConfig({
  plugins: [svelte()],
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
