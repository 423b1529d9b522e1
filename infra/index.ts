/** Entry point of the Pulumi program (Pulumi.yaml `main: infra/`): one environment per stack. */
import { deploy } from './program';

const outputs = deploy();

export const appUrl = outputs.appUrl;
export const grafanaUrl = outputs.grafanaUrl;
export const grafanaAdminPassword = outputs.grafanaAdminPassword;
export const adminToken = outputs.adminToken;
export const imageRef = outputs.imageRef;
export const version = outputs.version;
export const namespace = outputs.namespace;
