import { Module } from '@nestjs/common';
import { AuditModule } from '@ibhq/audit';
import { AuthModule } from '@ibhq/auth';
import { CryptoModule } from '@ibhq/crypto';
import { DatabaseModule, PlatformDbModule } from '@ibhq/db';
import { TenantsModule } from '@ibhq/tenants';
import { TenantAdminService } from './admin.service.js';
import { InvitationsService } from './invitations.service.js';
import { MembersService } from './members.service.js';
import { SignInService } from './sign-in.service.js';
import { TwoFactorService } from './two-factor.service.js';
import { UserDirectory } from './users.js';

const services = [
  UserDirectory,
  SignInService,
  MembersService,
  InvitationsService,
  TwoFactorService,
  TenantAdminService,
];

@Module({
  imports: [DatabaseModule, PlatformDbModule, CryptoModule, AuthModule, AuditModule, TenantsModule],
  providers: services,
  exports: [...services, AuthModule],
})
export class AccountsModule {}
