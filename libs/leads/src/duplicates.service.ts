import { Injectable } from '@nestjs/common';

/** OWNER: duplicates and merge work. */
@Injectable()
export class DuplicatesService {}
