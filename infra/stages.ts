/**
 * The stages a build travels through, in promotion order. Each is one Pulumi stack of its name, with its stack
 * file `Pulumi.<stage>.yaml`. The one list: the promotion tools, the offline runs, the Makefile (`make stages`)
 * and the manifests workflow read it from here; tools/conventions/test/workflows.test.ts checks what a workflow
 * has to spell out.
 */
export const STAGES = ['dev', 'qa', 'staging', 'prod'] as const;
export type Stage = (typeof STAGES)[number];

export function isStage(name: string): name is Stage {
  return (STAGES as readonly string[]).includes(name);
}
