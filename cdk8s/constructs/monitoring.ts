import type { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { PrometheusRule, PrometheusRuleSpecGroupsRulesExpr } from '../imports/monitoring.coreos.com.ts';
import { orchardRuleGroups } from '../monitoring/alerts.ts';
import { grafanaDashboard } from '../monitoring/dashboard.ts';
import { platformLabels } from './labels.ts';

/** The label kube-prometheus-stack's Grafana sidecar looks for on dashboard ConfigMaps (its default). */
export const GRAFANA_DASHBOARD_LABEL = 'grafana_dashboard';

export interface MonitoringProps {
  readonly namespace: string;
  /** @default 1 hour */
  readonly expectedJobDuration?: Duration;
  /**
   * Extra labels on the PrometheusRule, for a Prometheus whose ruleSelector wants them
   * (kube-prometheus-stack selects `release: <its release name>` unless told otherwise).
   * @default none
   */
  readonly ruleLabels?: Readonly<Record<string, string>>;
}

/** orchard's alerts as a PrometheusRule, and its Grafana dashboard as a ConfigMap for the Grafana sidecar. */
export class Monitoring extends Construct {
  readonly rule: PrometheusRule;
  readonly dashboard: kplus.ConfigMap;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const labels = platformLabels('monitoring');
    this.rule = new PrometheusRule(this, 'rules', {
      metadata: { name: 'orchard', namespace: props.namespace, labels: { ...labels, ...props.ruleLabels } },
      spec: {
        groups: orchardRuleGroups({ namespace: props.namespace, expectedJobDuration: props.expectedJobDuration }).map((group) => ({
          name: group.name,
          rules: group.rules.map((rule) => ({ ...rule, expr: PrometheusRuleSpecGroupsRulesExpr.fromString(rule.expr) })),
        })),
      },
    });
    this.dashboard = new kplus.ConfigMap(this, 'dashboard', {
      metadata: { name: 'orchard-dashboard', namespace: props.namespace, labels: { ...labels, [GRAFANA_DASHBOARD_LABEL]: '1' }, annotations: { grafana_folder: 'orchard' } },
      data: { 'orchard-feature-extraction.json': `${JSON.stringify(grafanaDashboard(), null, 2)}\n` },
    });
  }
}
