import { session } from "./api";

/**
 * Reads a server-sent event stream with fetch (so the Authorization header goes along: a token
 * never goes into a URL), calling `onEvent` with each event's JSON data. Reconnects after a
 * break, resuming from the last event id; stops when `signal` aborts.
 */
export async function follow(path: string, onEvent: (data: unknown) => void, signal: AbortSignal) {
  let lastId = "";
  while (!signal.aborted) {
    try {
      const headers = new Headers({ Authorization: `Bearer ${session.token}` });
      if (session.store) headers.set("StoreId", session.store);
      if (lastId) headers.set("Last-Event-ID", lastId);
      const response = await fetch(path, { headers, signal });
      if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let pending = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += value;
        let end: number;
        while ((end = pending.indexOf("\n\n")) >= 0) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("data: ")) data += line.slice(6);
            else if (line.startsWith("id: ")) lastId = line.slice(4);
          }
          if (data) onEvent(JSON.parse(data));
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
