// The vocabulary of the benchmark seed: names, countries with valid mobile number
// ranges, sources, tags, custom fields, notes. Kept apart from the SQL that uses it.

/**
 * First and last names of the IB's typical leads, with an ASCII spelling for usernames
 * and e-mail addresses. The lower-case forms of the names are computed in JavaScript
 * (String.prototype.toLowerCase, as searchTextOf does), never by PostgreSQL's lower(),
 * whose result depends on the database's collation.
 */
export const FIRST_NAMES = [
  ['Alex', 'alex'],
  ['Alexander', 'alexander'],
  ['Alexei', 'alexei'],
  ['Maria', 'maria'],
  ['Ivan', 'ivan'],
  ['Olga', 'olga'],
  ['Chen', 'chen'],
  ['Fatima', 'fatima'],
  ['Lukas', 'lukas'],
  ['Sofia', 'sofia'],
  ['Omar', 'omar'],
  ['Ahmed', 'ahmed'],
  ['Mohammed', 'mohammed'],
  ['Aisha', 'aisha'],
  ['John', 'john'],
  ['James', 'james'],
  ['Emma', 'emma'],
  ['Olivia', 'olivia'],
  ['Liam', 'liam'],
  ['Noah', 'noah'],
  ['Mia', 'mia'],
  ['Chidi', 'chidi'],
  ['Ngozi', 'ngozi'],
  ['Emeka', 'emeka'],
  ['Tunde', 'tunde'],
  ['Priya', 'priya'],
  ['Rahul', 'rahul'],
  ['Arjun', 'arjun'],
  ['Ananya', 'ananya'],
  ['José', 'jose'],
  ['Lucía', 'lucia'],
  ['Javier', 'javier'],
  ['Carmen', 'carmen'],
  ['João', 'joao'],
  ['Ana', 'ana'],
  ['Pedro', 'pedro'],
  ['Dmitry', 'dmitry'],
  ['Sergei', 'sergei'],
  ['Natalia', 'natalia'],
  ['Дмитрий', 'dmitriy'],
  ['Анна', 'anna'],
  ['Mehmet', 'mehmet'],
  ['Ayşe', 'ayse'],
  ['Çağrı', 'cagri'],
  ['Thabo', 'thabo'],
  ['Sipho', 'sipho'],
  ['Juan', 'juan'],
  ['Maricel', 'maricel'],
  ['Ahmad', 'ahmad'],
  ['Siti', 'siti'],
  ['Jürgen', 'juergen'],
  ['Zoë', 'zoe'],
  ['Anja', 'anja'],
  ['Piotr', 'piotr'],
  ['Kasia', 'kasia'],
  ['Oksana', 'oksana'],
  ['Wanjiru', 'wanjiru'],
  ['Budi', 'budi'],
  ['Linh', 'linh'],
  ['Somchai', 'somchai'],
  ['محمد', 'muhammad'],
];

export const LAST_NAMES = [
  ['Petrov', 'petrov'],
  ['Smith', 'smith'],
  ['Garcia', 'garcia'],
  ['Müller', 'mueller'],
  ['Rossi', 'rossi'],
  ['Khan', 'khan'],
  ['Novak', 'novak'],
  ['Silva', 'silva'],
  ['Johnson', 'johnson'],
  ['Brown', 'brown'],
  ['Williams', 'williams'],
  ['Okafor', 'okafor'],
  ['Adeyemi', 'adeyemi'],
  ['Nwosu', 'nwosu'],
  ['Sharma', 'sharma'],
  ['Patel', 'patel'],
  ['Gupta', 'gupta'],
  ['Singh', 'singh'],
  ['Fernández', 'fernandez'],
  ['López', 'lopez'],
  ['Martínez', 'martinez'],
  ['Santos', 'santos'],
  ['Oliveira', 'oliveira'],
  ['Costa', 'costa'],
  ['Ivanov', 'ivanov'],
  ['Smirnov', 'smirnov'],
  ['Кузнецов', 'kuznetsov'],
  ['Yılmaz', 'yilmaz'],
  ['Kaya', 'kaya'],
  ['Demir', 'demir'],
  ['Nkosi', 'nkosi'],
  ['Dlamini', 'dlamini'],
  ['Reyes', 'reyes'],
  ['Cruz', 'cruz'],
  ['Abdullah', 'abdullah'],
  ['Rahman', 'rahman'],
  ['Schmidt', 'schmidt'],
  ['Schneider', 'schneider'],
  ['Fischer', 'fischer'],
  ['Kowalski', 'kowalski'],
  ['Nowak', 'nowak'],
  ['Shevchenko', 'shevchenko'],
  ['Kamau', 'kamau'],
  ['Otieno', 'otieno'],
  ['Santoso', 'santoso'],
  ['Nguyen', 'nguyen'],
  ['Tran', 'tran'],
  ['Wong', 'wong'],
  ['Al Mansoori', 'almansoori'],
  ['Haddad', 'haddad'],
  ['Dubois', 'dubois'],
  ['Martin', 'martin'],
  ['Chen', 'chen'],
  ['Li', 'li'],
  ['Tanaka', 'tanaka'],
  ['Kim', 'kim'],
  ['Park', 'park'],
  ['Hassan', 'hassan'],
  ['Ali', 'ali'],
  ['Mensah', 'mensah'],
  ['Boateng', 'boateng'],
  ['Ozturk', 'ozturk'],
  ['Lindqvist', 'lindqvist'],
  ['Van Dijk', 'vandijk'],
  ['O\u2019Brien', 'obrien'],
  ['Popescu', 'popescu'],
  ['Horvat', 'horvat'],
];

/**
 * Countries of the leads: ISO code, a language, the calling code, and a range of valid
 * mobile numbers (national prefix + `digits` free digits). Every number the seed can
 * make for row numbers up to 1,000,000 was checked with libphonenumber-js (valid, of
 * that country, national number = prefix + digits); the seed checks a sample of what
 * it wrote again before it sets its marker.
 * `weight`: how many leads in 100 are from the country.
 */
export const COUNTRIES = [
  { code: 'GB', language: 'en', callingCode: '44', prefix: '739', digits: 7, weight: 10 },
  { code: 'DE', language: 'de', callingCode: '49', prefix: '151', digits: 8, weight: 8 },
  { code: 'AE', language: 'ar', callingCode: '971', prefix: '50', digits: 7, weight: 8 },
  { code: 'NG', language: 'en', callingCode: '234', prefix: '803', digits: 7, weight: 10 },
  { code: 'IN', language: 'en-IN', callingCode: '91', prefix: '98', digits: 8, weight: 10 },
  { code: 'ES', language: 'es', callingCode: '34', prefix: '6', digits: 8, weight: 5 },
  { code: 'BR', language: 'pt-BR', callingCode: '55', prefix: '119', digits: 8, weight: 7 },
  { code: 'RU', language: 'ru', callingCode: '7', prefix: '916', digits: 7, weight: 6 },
  { code: 'TR', language: 'tr', callingCode: '90', prefix: '532', digits: 7, weight: 5 },
  { code: 'ZA', language: 'en', callingCode: '27', prefix: '82', digits: 7, weight: 6 },
  { code: 'PH', language: 'fil', callingCode: '63', prefix: '917', digits: 7, weight: 4 },
  { code: 'MY', language: 'ms', callingCode: '60', prefix: '12', digits: 7, weight: 4 },
  { code: 'PL', language: 'pl', callingCode: '48', prefix: '5', digits: 8, weight: 3 },
  { code: 'UA', language: 'uk', callingCode: '380', prefix: '67', digits: 7, weight: 3 },
  { code: 'KE', language: 'sw', callingCode: '254', prefix: '7', digits: 8, weight: 4 },
  { code: 'ID', language: 'id', callingCode: '62', prefix: '812', digits: 8, weight: 3 },
  { code: 'VN', language: 'vi', callingCode: '84', prefix: '90', digits: 7, weight: 2 },
  { code: 'TH', language: 'th', callingCode: '66', prefix: '8', digits: 8, weight: 1 },
  { code: 'FR', language: 'fr', callingCode: '33', prefix: '67', digits: 7, weight: 1 },
];

/** Where leads come from, in 100 (telegram_dm 45, group 20, channel 15, import 10, api 5, manual 5). */
export const SOURCE_WEIGHTS = [
  ['telegram_dm', 45],
  ['telegram_group', 20],
  ['telegram_channel', 15],
  ['import', 10],
  ['api', 5],
  ['manual', 5],
];

/** How the leads spread over the IB funnel (by the funnel's order), in 100. */
export const STAGE_WEIGHTS = [30, 20, 15, 10, 7, 6, 5, 7];

export const TAGS = [
  'vip',
  'forex',
  'crypto',
  'gold',
  'copy-trading',
  'webinar',
  'signals',
  'high-value',
  'follow-up',
  'referral',
];

export const BROKERS = ['Exness', 'IC Markets', 'XM', 'Pepperstone', 'RoboForex', 'FBS'];

export const CUSTOM_FIELDS = [
  { key: 'deposit_usd', label: 'First deposit (USD)', type: 'number', options: [] },
  { key: 'broker', label: 'Broker', type: 'single_select', options: BROKERS },
];

export const GROUP_TITLES = [
  'Forex Signals VIP',
  'Gold Scalpers Club',
  'Crypto Pumps Daily',
  'Copy Trading Hub',
  'FX Beginners Academy',
  'Indices & Oil Room',
  'Prop Firm Challenge',
  'Swing Traders Lounge',
];

export const EMAIL_DOMAINS = [
  'gmail.com',
  'yahoo.com',
  'outlook.com',
  'hotmail.com',
  'icloud.com',
  'proton.me',
  'mail.ru',
  'yandex.ru',
  'gmx.de',
  'web.de',
];

export const NOTES = [
  'Asked about copy-trading fees and the minimum deposit.',
  'Interested in gold signals; call back next week.',
  'Sent the registration link, waiting for KYC documents.',
  'Prefers WhatsApp for follow-ups. Trades in the London session.',
  'Funded 500 USD, wants to join the VIP group.',
  'Asked whether the broker accepts USDT deposits.',
  'Not interested right now, maybe after the holidays.',
  'Wants a demo account first; sent the webinar recording.',
  'Complained about spreads on XAUUSD at news time.',
  'Referred by an existing client from the signals channel.',
];
