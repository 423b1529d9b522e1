import type * as k8s from '@pulumi/kubernetes';
import type * as pulumi from '@pulumi/pulumi';

/**
 * The options of a component whose children are Kubernetes objects. The provider (the stack's context and
 * namespace) is required, and the children inherit it through `{ parent: this }`: none can fall back to the
 * ambient kubeconfig's cluster.
 */
export type KubernetesComponentOptions = pulumi.ComponentResourceOptions & { provider: k8s.Provider };
