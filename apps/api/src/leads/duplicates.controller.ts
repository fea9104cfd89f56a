import { Controller } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

/** OWNER: duplicates and merge work. */
@ApiTags('leads')
@Controller('v1/leads')
export class DuplicatesController {}
