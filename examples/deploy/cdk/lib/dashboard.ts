import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/** What the dashboard and alarms watch. */
export interface WorkerDashboardProps {
  /** The worker's and the CloudWatch agent's metrics namespace. */
  readonly namespace: string;
  /** The instance (a token). */
  readonly instanceId: string;
  /** The no-submission alarm's window: this many epochs... */
  readonly missedEpochs: number;
  /** ...of this many seconds. */
  readonly epochSeconds: number;
  /** The low-balance alarm's threshold, in uallo. */
  readonly lowBalanceUallo: number;
  /** Where alarms notify, if anywhere. */
  readonly alarmTopic?: sns.ITopic;
}

/** The dashboard and the alarms. */
export class WorkerDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly noSubmissionAlarm: cloudwatch.Alarm;
  readonly lowBalanceAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: WorkerDashboardProps) {
    super(scope, id);
    const region = Stack.of(this).region;
    // The worker labels its metrics with the instance and its region (from
    // IMDSv2); the CloudWatch agent with the instance alone.
    const worker = { InstanceId: props.instanceId, Region: region };
    const agent = { InstanceId: props.instanceId };
    const metric = (
      metricName: string,
      statistic: string,
      extra: Record<string, string> = {},
      label?: string,
    ): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: props.namespace,
        metricName,
        dimensionsMap: { ...worker, ...extra },
        statistic,
        period: Duration.minutes(5),
        label,
      });

    const submissions = (outcome: string) => metric('Submissions', 'Sum', { Outcome: outcome }, outcome);
    // Failure kinds are open-ended, so they are found rather than listed.
    const failures = new cloudwatch.MathExpression({
      expression: `SEARCH('{${props.namespace},FailureKind,InstanceId,Region} MetricName="SubmissionFailures" InstanceId="${props.instanceId}"', 'Sum', 300)`,
      label: '',
      period: Duration.minutes(5),
    });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(6),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Submissions by outcome (per 5 min)',
            left: [submissions('included'), submissions('already_submitted'), submissions('failed')],
            stacked: true,
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Failures by kind (per 5 min)',
            left: [failures],
            stacked: true,
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Window open -> included (ms)',
            left: [
              metric('WindowOpenToInclusionLatency', 'Average', {}, 'average'),
              metric('WindowOpenToInclusionLatency', 'Maximum', {}, 'maximum'),
              metric('WindowOpenToBroadcastLatency', 'Average', {}, 'to broadcast (average)'),
            ],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Balance (uallo)',
            left: [metric('BalanceUallo', 'Minimum', {}, 'balance')],
            leftAnnotations: [{ value: props.lowBalanceUallo, label: 'one day of fees' }],
            width: 6,
          }),
          new cloudwatch.GraphWidget({
            title: 'Block height',
            left: [metric('BlockHeight', 'Maximum', {}, 'height')],
            width: 6,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'CPU (%)',
            left: [
              new cloudwatch.Metric({
                namespace: 'AWS/EC2',
                metricName: 'CPUUtilization',
                dimensionsMap: agent,
                statistic: 'Average',
                period: Duration.minutes(5),
                label: 'cpu',
              }),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Memory (%)',
            left: [
              new cloudwatch.Metric({
                namespace: props.namespace,
                metricName: 'mem_used_percent',
                dimensionsMap: agent,
                statistic: 'Maximum',
                period: Duration.minutes(5),
                label: 'memory used',
              }),
              new cloudwatch.Metric({
                namespace: props.namespace,
                metricName: 'swap_used_percent',
                dimensionsMap: agent,
                statistic: 'Maximum',
                period: Duration.minutes(5),
                label: 'swap used',
              }),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Root disk (%)',
            left: [
              new cloudwatch.Metric({
                namespace: props.namespace,
                metricName: 'disk_used_percent',
                dimensionsMap: agent,
                statistic: 'Maximum',
                period: Duration.minutes(5),
                label: 'disk used',
              }),
            ],
            width: 8,
          }),
        ],
      ],
    });

    // CloudWatch alarm periods are multiples of a minute, evaluated over at
    // most one day.
    const window = Math.min(86_400, Math.ceil((props.missedEpochs * props.epochSeconds) / 60) * 60);
    this.noSubmissionAlarm = new cloudwatch.Alarm(this, 'NoIncludedSubmission', {
      alarmDescription: `No submission of the worker was included for ${props.missedEpochs} epochs (${window} s): check the worker's log and \`allora-worker status\` on the instance.`,
      metric: new cloudwatch.Metric({
        namespace: props.namespace,
        metricName: 'Submissions',
        dimensionsMap: { ...worker, Outcome: 'included' },
        statistic: 'Sum',
        period: Duration.seconds(window),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // No data means no submission (or no worker at all).
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    this.lowBalanceAlarm = new cloudwatch.Alarm(this, 'LowBalance', {
      alarmDescription: `The worker's balance is below one day of fees (${props.lowBalanceUallo} uallo): fund its address.`,
      metric: metric('BalanceUallo', 'Minimum'),
      threshold: props.lowBalanceUallo,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // A silent worker is the other alarm's business.
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });
    if (props.alarmTopic) {
      for (const alarm of [this.noSubmissionAlarm, this.lowBalanceAlarm]) {
        alarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
        alarm.addOkAction(new actions.SnsAction(props.alarmTopic));
      }
    }
  }
}
