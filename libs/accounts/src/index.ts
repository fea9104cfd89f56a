export * from './accounts.dto.js';
export { AccountsModule } from './accounts.module.js';
export { TenantAdminService, type TenantSettingsView } from './admin.service.js';
export {
  InvitationsService,
  type InvitationPreview,
  type InvitationView,
} from './invitations.service.js';
export { MembersService, type ActingRole, type MemberView } from './members.service.js';
export {
  SignInService,
  sessionView,
  type CurrentSession,
  type SessionView,
  type SignInResult,
} from './sign-in.service.js';
export { TwoFactorService } from './two-factor.service.js';
export { UserDirectory, type MembershipSummary, type UserView } from './users.js';
