import { SetMetadata } from '@nestjs/common';
import type { Permission } from '@ibhq/auth';

/**
 * Every route declares who may call it, with exactly one of these (on the method or
 * its controller). A route without a declaration is refused by the guard, and
 * test/accounts/access-declarations.spec.ts fails.
 */
export const ACCESS = 'ibhq:access';

export type Access =
  | { readonly kind: 'public' }
  | { readonly kind: 'signed-in' }
  | { readonly kind: 'permission'; readonly permission: Permission };

/** Anyone, without credentials (health, sign-up, sign-in, docs). */
export const Public = (): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS, { kind: 'public' } satisfies Access);

/** Any signed-in user, with or without a tenant chosen (their own account, sessions). */
export const SignedIn = (): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS, { kind: 'signed-in' } satisfies Access);

/** A user whose role grants `permission` in the current tenant, or an API key with it as a scope. */
export const Requires = (permission: Permission): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS, { kind: 'permission', permission } satisfies Access);
