/** Mounting a route of the table (`route-table.ts`): its method and path are written there only. */
import type { RequestHandler, Router } from 'express';
import type { Route } from './route-table';

export function mount(router: Router, route: Route, ...handlers: RequestHandler[]): void {
  router[route.method](route.path, ...handlers);
}
