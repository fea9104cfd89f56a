import { Controller } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

/** OWNER: search and lists work. */
@ApiTags('leads')
@Controller('v1/leads')
export class LeadListController {}
