import { Module } from '@nestjs/common';
import { PlatformDbModule } from '@ibhq/db';
import { TenantsService } from './tenants.service.js';

@Module({ imports: [PlatformDbModule], providers: [TenantsService], exports: [TenantsService] })
export class TenantsModule {}
