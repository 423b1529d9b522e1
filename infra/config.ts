/** The typed settings of one stack (Pulumi.<stack>.yaml) as the components receive them: infra/stack-schema.ts decodes them. */
import * as pulumi from '@pulumi/pulumi';
import { decodeStackConfig } from './stack-schema';

export type { AlertReceivers, Resources, ThirdPartyService, TlsSetting } from './stack-schema';

/**
 * Reads and checks the stack's configuration, secrets included, before any resource is declared, through the
 * schema `make promote` uses too. Throws a StackSettingsError listing every problem once, each line naming its
 * `event-stack:<key>`. The secrets become Outputs marked secret, so they never reach logs or state in clear text.
 */
export function readStackConfig(stack = pulumi.getStack()) {
  const cfg = decodeStackConfig(pulumi.runtime.allConfig(), `Pulumi.${stack}.yaml`);
  return {
    ...cfg,
    alertReceivers: pulumi.secret(cfg.alertReceivers),
    postgres: cfg.postgres.external ? { ...cfg.postgres, databaseUrl: pulumi.secret(cfg.postgres.databaseUrl) } : cfg.postgres,
  };
}
