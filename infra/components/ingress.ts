/** The Ingress of a service exposed on one host: one path prefix to one Service port, TLS as the stack sets it. */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { TlsSetting } from '../config';
import { ingressTls, labelsFor } from './workload';

export interface HostIngressArgs {
  /** The Ingress's name and the workload's name label. */
  name: string;
  namespace: pulumi.Input<string>;
  host: string;
  tls?: TlsSetting;
  ingressClassName: string;
  /** The path prefix routed; everything else on the host is not. */
  path: string;
  service: pulumi.Input<string>;
  /** The Service's port, by name. */
  servicePort: string;
}

export function hostIngress(resourceName: string, args: HostIngressArgs, opts: pulumi.CustomResourceOptions): k8s.networking.v1.Ingress {
  const tls = ingressTls(args.host, args.tls);
  const backend = { service: { name: args.service, port: { name: args.servicePort } } };
  return new k8s.networking.v1.Ingress(
    resourceName,
    {
      metadata: { name: args.name, namespace: args.namespace, labels: labelsFor(args.name), annotations: tls.annotations },
      spec: {
        ingressClassName: args.ingressClassName,
        tls: tls.tls,
        rules: [{ host: args.host, http: { paths: [{ path: args.path, pathType: 'Prefix', backend }] } }],
      },
    },
    opts,
  );
}
