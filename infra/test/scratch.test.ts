import type { OfflineRun } from './offline';
test('scratch', async () => {
  let run!: OfflineRun;
  await jest.isolateModulesAsync(async () => {
    run = await (require('./offline') as typeof import('./offline')).runOffline('dev');
  });
  console.log(run.resources.map((r) => r.type + ' ' + r.name).join('\n'));
  console.log(JSON.stringify(run.outputs));
  console.log(JSON.stringify(run.kubernetesObjects.find((o) => o.kind === 'Secret'), null, 1));
  console.log(JSON.stringify(run.kubernetesObjects.find((o) => o.kind === 'Job'), null, 1));
});
