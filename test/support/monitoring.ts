import { alertSignals } from '../../cdk8s/monitoring/alerts.ts';
import { DASHBOARD_SECTIONS } from '../../cdk8s/monitoring/dashboard.ts';

export interface NamedQuery {
  /** Which panel or alert the query belongs to, for failure messages. */
  readonly source: string;
  readonly expr: string;
  /** Stat panels ask for one value at the end of the range; the rest draw the range. */
  readonly instant: boolean;
}

/**
 * Every query of the dashboard (with Grafana's variables filled in as Grafana would) and every
 * alert's signal, for a namespace.
 */
export function monitoringQueries(namespace: string, windows: { rateInterval: string; range: string } = { rateInterval: '1m', range: '1h' }): NamedQuery[] {
  const fill = (expr: string) => expr.replaceAll('$namespace', namespace).replaceAll('$__rate_interval', windows.rateInterval).replaceAll('$__range', windows.range);
  const panels = DASHBOARD_SECTIONS.flatMap((section) =>
    section.panels.flatMap((panel) => panel.queries.map((query) => ({ source: `dashboard panel "${panel.title}" (${query.legend})`, expr: fill(query.expr), instant: panel.kind === 'stat' }))),
  );
  const alerts = Object.entries(alertSignals({ namespace })).map(([alert, signal]) => ({ source: `alert ${alert}`, expr: signal, instant: false }));
  return [...panels, ...alerts];
}

/** PromQL keywords and functions that look like metric names to a tokenizer. */
const NOT_METRICS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);

/**
 * The metric names a set of PromQL expressions select: identifiers outside `{...}` and `(...)`
 * label lists that are not functions (followed by `(`) or keywords.
 */
export function metricNamesIn(exprs: readonly string[]): string[] {
  const names = new Set<string>();
  for (const expr of exprs) {
    const withoutMatchers = expr.replace(/\{[^}]*\}/g, ' ').replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, ' ').replace(/"[^"]*"/g, ' ').replace(/\[[^\]]*\]/g, ' ');
    for (const match of withoutMatchers.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
      const name = match[0];
      const next = withoutMatchers.slice(match.index! + name.length).trimStart();
      if (next.startsWith('(') || NOT_METRICS.has(name) || /^\d/.test(name)) continue;
      names.add(name);
    }
  }
  return [...names].sort();
}
