import { z } from 'zod';
import { MEMBER_ROLES } from '@ibhq/auth';

/** E-mails are stored trimmed and lower-cased, so that one address is one account. */
export const emailField = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email({ message: 'is not a valid e-mail address' }))
  .transform((e) => e.toLowerCase());

/** Length is checked here; strength by PasswordService (it needs the user's other inputs). */
const passwordField = z.string().min(1).max(1024);
const displayName = z.string().trim().min(1).max(200);
const totpCode = z.string().regex(/^\d{6}$/, 'must be 6 digits');
const recoveryCode = z.string().trim().min(10).max(32);
/**
 * How the new session travels: `token` in the response body (API clients send it as
 * a bearer token), or `cookie`: an HttpOnly cookie the page's scripts cannot read,
 * and no token in the body (the dashboard).
 */
const delivery = z.enum(['token', 'cookie']).default('token');

export const signupBody = z.strictObject({
  tenantName: z.string().trim().min(1).max(200),
  displayName,
  email: emailField,
  password: passwordField,
  region: z.enum(['EU', 'US']).default('EU'),
  delivery,
});
export type SignupBody = z.infer<typeof signupBody>;

export const loginBody = z.strictObject({
  email: emailField,
  password: passwordField,
  /** The tenant to sign in to; optional when the user belongs to one tenant only. */
  tenantId: z.uuid().optional(),
  totpCode: totpCode.optional(),
  recoveryCode: recoveryCode.optional(),
  delivery,
});
export type LoginBody = z.infer<typeof loginBody>;

/** The second factor, for sign-in flows other than the password (Telegram). */
export const secondFactor = z.strictObject({
  totpCode: totpCode.optional(),
  recoveryCode: recoveryCode.optional(),
  tenantId: z.uuid().optional(),
  delivery,
});
export type SecondFactor = z.infer<typeof secondFactor>;

/** The Telegram Login Widget's fields exactly as received (their hash covers them). */
const telegramFields = z
  .record(z.string().max(64), z.union([z.string().max(4096), z.number()]))
  .refine((r) => Object.keys(r).length <= 20, 'has too many fields');

export const telegramSignInBody = secondFactor.extend({ telegram: telegramFields });
export type TelegramSignInBody = z.infer<typeof telegramSignInBody>;

export const telegramLinkBody = z.strictObject({ telegram: telegramFields });
export type TelegramLinkBody = z.infer<typeof telegramLinkBody>;

export const switchTenantBody = z.strictObject({ tenantId: z.uuid() });
export type SwitchTenantBody = z.infer<typeof switchTenantBody>;

export const memberRole = z.enum(MEMBER_ROLES);
export const changeRoleBody = z.strictObject({ role: memberRole });
export type ChangeRoleBody = z.infer<typeof changeRoleBody>;

export const createInvitationBody = z.strictObject({ email: emailField, role: memberRole });
export type CreateInvitationBody = z.infer<typeof createInvitationBody>;

export const acceptInvitationBody = z.strictObject({
  token: z.string().min(1).max(2048),
  password: passwordField,
  /** Needed when the invited e-mail has no account yet. */
  displayName: displayName.optional(),
});
export type AcceptInvitationBody = z.infer<typeof acceptInvitationBody>;

export const invitationTokenQuery = z.strictObject({ token: z.string().min(1).max(2048) });

export const totpCodeBody = z.strictObject({ code: totpCode });
export type TotpCodeBody = z.infer<typeof totpCodeBody>;

export const disableTotpBody = z.strictObject({
  password: passwordField,
  code: totpCode.optional(),
  recoveryCode: recoveryCode.optional(),
});
export type DisableTotpBody = z.infer<typeof disableTotpBody>;

export const tenantSettingsBody = z
  .strictObject({
    require2faForOwners: z.boolean().optional(),
    /** null: back to the deployment's default. */
    apiRateLimitPerMinute: z.number().int().min(1).max(1_000_000).nullable().optional(),
    /** Agents see and change only the leads they own. */
    agentsSeeOwnLeadsOnly: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'nothing to change' });
export type TenantSettingsBody = z.infer<typeof tenantSettingsBody>;

export const staffAccessBody = z.strictObject({
  tenantId: z.uuid(),
  reason: z.string().trim().min(10, 'say why, in at least 10 characters').max(500),
});
export type StaffAccessBody = z.infer<typeof staffAccessBody>;

export const idParam = z.uuid();

export const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(100),
  cursor: z.string().min(1).max(512).optional(),
});
export type ListQuery = z.infer<typeof listQuery>;
