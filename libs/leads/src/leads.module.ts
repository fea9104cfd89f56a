import { Module } from '@nestjs/common';
import { DatabaseModule } from '@ibhq/db';
import { JobsModule } from '@ibhq/jobs';
import { LeadsService } from './leads.service.js';

@Module({
  imports: [DatabaseModule, JobsModule],
  providers: [LeadsService],
  exports: [LeadsService],
})
export class LeadsModule {}
