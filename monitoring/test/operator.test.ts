/** The Prometheus Operator specs are the bundled configuration in another shape: same matchers, same receivers. */
import { alertmanagerConfigSpec, parseMatcher } from '../src';

describe('operator specs', () => {
  test.each([
    ['severity="critical"', { name: 'severity', matchType: '=', value: 'critical' }],
    ['slo=~".+"', { name: 'slo', matchType: '=~', value: '.+' }],
    ['alertname!="A|B"', { name: 'alertname', matchType: '!=', value: 'A|B' }],
    ['text=~"say \\"hi\\""', { name: 'text', matchType: '=~', value: 'say "hi"' }],
  ])('when the matcher %s is parsed, then name, operator and value come apart', (text, expected) => {
    expect(parseMatcher(text)).toEqual(expected);
  });

  test.each(['severity=critical', 'severity', '="x"', 'a=="x"'])(
    'when %s is not a matcher of the form name="value", then parsing refuses it',
    (text) => {
      expect(() => parseMatcher(text)).toThrow(/not an Alertmanager matcher/);
    },
  );

  test('when a template has nested routes, inhibitions and receivers, then the spec keeps each, reading URLs from the Secret', () => {
    const spec = alertmanagerConfigSpec(
      'urls',
      `route:
  receiver: a
  group_by: [alertname]
  routes:
    - receiver: b
      matchers: ['x="1"']
      repeat_interval: 5m
      routes:
        - receiver: a
          matchers: ['y!~"2"']
inhibit_rules:
  - source_matchers: ['s="1"']
    target_matchers: ['t="2"']
    equal: [job]
receivers:
  - name: a
    webhook_configs: [{ url: "\${A}", send_resolved: false }]
  - name: b
    webhook_configs: [{ url: "\${B}" }]
`,
    );
    expect(spec.route).toEqual({
      receiver: 'a',
      groupBy: ['alertname'],
      routes: [
        {
          receiver: 'b',
          matchers: [{ name: 'x', matchType: '=', value: '1' }],
          repeatInterval: '5m',
          routes: [{ receiver: 'a', matchers: [{ name: 'y', matchType: '!~', value: '2' }] }],
        },
      ],
    });
    expect(spec.inhibitRules).toEqual([
      {
        sourceMatch: [{ name: 's', matchType: '=', value: '1' }],
        targetMatch: [{ name: 't', matchType: '=', value: '2' }],
        equal: ['job'],
      },
    ]);
    expect(spec.receivers).toEqual([
      { name: 'a', webhookConfigs: [{ urlSecret: { name: 'urls', key: 'a' }, sendResolved: false }] },
      { name: 'b', webhookConfigs: [{ urlSecret: { name: 'urls', key: 'b' }, sendResolved: true }] },
    ]);
  });
});
