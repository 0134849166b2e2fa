// The console is a client of the public API only (docs/api.md). The token lives in this tab's
// sessionStorage and goes in the Authorization header; never in a URL.

const TOKEN = "switchboard.token";
const STORE = "switchboard.store";

export interface ApiError {
  status: number;
  code: string;
  message: string;
}

export const session = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN);
  },
  get store(): string | null {
    return sessionStorage.getItem(STORE);
  },
  signIn(token: string, store: string | null) {
    sessionStorage.setItem(TOKEN, token);
    if (store) sessionStorage.setItem(STORE, store);
    else sessionStorage.removeItem(STORE);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(STORE);
  },
};

/** Calls the API as the signed-in token; a refusal is thrown as an ApiError. */
export async function api<T>(path: string, init: RequestInit = {}, token = session.token, store = session.store): Promise<T> {
  const headers = new Headers(init.headers);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  if (store) headers.set("StoreId", store);
  if (init.body) headers.set("Content-Type", "application/json");
  const response = await fetch(path, { ...init, headers });
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error: ApiError = {
      status: response.status,
      code: body?.error?.code ?? "error",
      message: body?.error?.message ?? response.statusText,
    };
    throw error;
  }
  return body as T;
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}
