// A workflow definition as a graph: nodes for the trigger and every step (native, with the
// branches of `conditional` and their rejoin, and `onError` goto edges; or Kustomer, with each
// transition and its condition), laid out top to bottom by dagre.
import dagre from "@dagrejs/dagre";
import type { Edge, Node } from "@xyflow/svelte";

interface NativeStep {
  id: string;
  name?: string;
  type: string;
  config?: Record<string, unknown>;
  onError?: string | { goto: string };
}
interface KustomerStep {
  id: string;
  action: string;
  transitions?: { target: string; condition?: unknown }[];
  errorCases?: { target: string; condition?: unknown }[];
}
export interface Definition {
  trigger: Record<string, unknown> & { transitions?: { target: string; condition?: unknown }[] };
  steps: (NativeStep | KustomerStep)[];
}

const WIDTH = 220;
/** Characters a node's line holds at its width (the console's 0.8rem font). */
const LINE = 30;

/** A node's height for the layout, from the lines its label takes. */
function height(label: string): number {
  const lines = label.split("\n").reduce((n, line) => n + Math.max(1, Math.ceil(line.length / LINE)), 0);
  return 22 + 15 * lines;
}

/** A step's most telling settings, short. */
function settings(step: NativeStep): string {
  const c = step.config ?? {};
  const keys = ["eventType", "templateId", "url", "webhook", "to", "delayMinutes", "delaySeconds", "until", "condition", "workflowId", "event"];
  const shown = keys.filter((k) => c[k] !== undefined).map((k) => `${k}: ${String(c[k])}`);
  const text = shown.join(" · ");
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

function condition(c: unknown): string {
  if (!c || typeof c !== "object") return "";
  const { op, values } = c as { op?: string; values?: unknown[] };
  return [op, ...(values ?? []).map((v) => JSON.stringify(v))].filter(Boolean).join(" ").slice(0, 40);
}

export function build(def: Definition): { nodes: Node[]; edges: Edge[] } {
  const nodes: Node[] = [];
  const edges: Edge[] = [];
  const trigger = def.trigger;
  const triggerText = trigger.eventName ? `on ${trigger.eventName}` : `${trigger.type}${trigger.eventType ? `: ${trigger.eventType}` : ""}`;
  nodes.push({ id: "__trigger", data: { label: `trigger · ${triggerText}` }, position: { x: 0, y: 0 }, type: "input" });
  const edge = (source: string, target: string, label?: string, dashed = false) =>
    edges.push({ id: `${source}->${target}:${label ?? ""}`, source, target, label, animated: dashed });

  if (trigger.transitions) {
    for (const s of def.steps as KustomerStep[]) {
      nodes.push({ id: s.id, data: { label: `${s.id} · ${s.action}` }, position: { x: 0, y: 0 } });
    }
    for (const t of trigger.transitions) edge("__trigger", t.target, condition(t.condition));
    for (const s of def.steps as KustomerStep[]) {
      for (const t of s.transitions ?? []) edge(s.id, t.target, condition(t.condition));
      for (const t of s.errorCases ?? []) edge(s.id, t.target, `on error ${condition(t.condition)}`.trim(), true);
    }
  } else {
    // Native: a list of steps, conditionals holding their branches; returns [first, lasts].
    const chain = (steps: NativeStep[]): [string | null, string[]] => {
      let first: string | null = null;
      let ends: string[] = [];
      for (const step of steps) {
        nodes.push({ id: step.id, data: { label: `${step.name ?? step.id} · ${step.type}\n${settings(step)}` }, position: { x: 0, y: 0 } });
        for (const e of ends) edge(e, step.id);
        if (first === null) first = step.id;
        ends = [step.id];
        if (step.type === "conditional") {
          const branch = (v: unknown) => (Array.isArray(v) ? (v as NativeStep[]) : v ? [v as NativeStep] : []);
          const [thenFirst, thenEnds] = chain(branch(step.config?.then));
          const [elseFirst, elseEnds] = chain(branch(step.config?.else));
          if (thenFirst) edge(step.id, thenFirst, "then");
          if (elseFirst) edge(step.id, elseFirst, "else");
          ends = [...thenEnds, ...(elseFirst ? elseEnds : [step.id])];
        }
      }
      return [first, ends];
    };
    const [first] = chain(def.steps as NativeStep[]);
    if (first) edge("__trigger", first);
    for (const step of def.steps as NativeStep[]) {
      if (step.onError && typeof step.onError === "object") edge(step.id, step.onError.goto, "on error", true);
    }
  }

  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: 40, ranksep: 60 });
  g.setDefaultEdgeLabel(() => ({}));
  // Room for the counts or status the console adds under each label.
  for (const n of nodes) g.setNode(n.id, { width: WIDTH, height: height(`${n.data.label}\nxx runs · x failed`) });
  for (const e of edges) g.setEdge(e.source, e.target);
  dagre.layout(g);
  for (const n of nodes) {
    const p = g.node(n.id);
    n.position = { x: p.x - WIDTH / 2, y: p.y - p.height / 2 };
  }
  return { nodes, edges };
}
