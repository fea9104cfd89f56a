import { type INestApplication, RequestMethod, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import { ACCESS, type Access } from '../../apps/api/src/http/access.decorators.js';

/**
 * The routes of the API, derived from the controllers' Nest metadata (never written by
 * hand), for the access tests: access-declarations.spec.ts and access-matrix.spec.ts.
 */
export interface Route {
  readonly method: string;
  /** As registered, with its parameters: `/v1/leads/:id`. */
  readonly path: string;
  readonly controller: Type;
  readonly handler: string;
  /** The ACCESS declaration on the method, and on its controller (either may be absent). */
  readonly onMethod: Access | undefined;
  readonly onClass: Access | undefined;
}

export const routeName = (route: Pick<Route, 'method' | 'path'>): string =>
  `${route.method} ${route.path}`;

/** What the guard applies: the method's declaration, else its controller's. */
export const accessOf = (route: Route): Access | undefined => route.onMethod ?? route.onClass;

const reflector = new Reflector();
const scanner = new MetadataScanner();

const asList = (value: unknown): string[] =>
  Array.isArray(value) ? value.map(String) : [typeof value === 'string' ? value : '/'];

function join(...parts: string[]): string {
  const path = parts
    .flatMap((p) => p.split('/'))
    .filter(Boolean)
    .join('/');
  return `/${path}`;
}

/** The controllers Nest registered in a running application, from its module container. */
export function controllersOf(app: INestApplication): Type[] {
  // DiscoveryService over the app's own ModulesContainer: no need to import
  // DiscoveryModule into the product's module for a test to use it.
  const discovery = new DiscoveryService(app.get(ModulesContainer));
  const types = discovery
    .getControllers()
    .map((wrapper) => wrapper.metatype)
    .filter((t): t is Type => typeof t === 'function');
  return [...new Set(types)];
}

/** Every route handler of `controllers`, with its method, full path and access declarations. */
export function routesOf(controllers: readonly Type[]): Route[] {
  const routes: Route[] = [];
  for (const controller of controllers) {
    const prototype = controller.prototype as Record<string, unknown>;
    const prefixes = asList(Reflect.getMetadata(PATH_METADATA, controller));
    const onClass = reflector.get<Access | undefined>(ACCESS, controller);
    for (const handler of scanner.getAllMethodNames(prototype)) {
      const fn = prototype[handler];
      if (typeof fn !== 'function') continue;
      // Only route handlers carry a path; helper methods do not.
      const paths: unknown = Reflect.getMetadata(PATH_METADATA, fn);
      if (paths === undefined) continue;
      const method = (Reflect.getMetadata(METHOD_METADATA, fn) ?? RequestMethod.GET) as number;
      const onMethod = reflector.get<Access | undefined>(ACCESS, fn as Type);
      for (const prefix of prefixes) {
        for (const path of asList(paths)) {
          routes.push({
            method: RequestMethod[method] ?? String(method),
            path: join(prefix, path),
            controller,
            handler,
            onMethod,
            onClass,
          });
        }
      }
    }
  }
  return routes.sort((a, b) => routeName(a).localeCompare(routeName(b)));
}
