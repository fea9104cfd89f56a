import { Module } from '@nestjs/common';
import { DatabaseModule } from '@ibhq/db';
import { AuditService } from './audit.service.js';

/** The audit trail. Clock comes from the global CoreModule. */
@Module({
  imports: [DatabaseModule],
  providers: [AuditService],
  exports: [AuditService],
})
export class AuditModule {}
