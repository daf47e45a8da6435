// Package consentrecord exports consents from the fairlead ledger as consent
// records and consent receipts following ISO/IEC TS 27560:2023 "Privacy
// technologies — Consent record information structure", in the JSON-LD
// rendering that the W3C Data Privacy Vocabularies and Controls Community
// Group (DPVCG) defines for it with the Data Privacy Vocabulary (DPV).
//
// The ledger is fairlead's proof that a contact was lawful (GDPR Art. 7(1):
// the controller must be able to demonstrate consent; UWG § 7a: consent to
// advertising calls must be documented and kept). A ledger is only useful as
// proof if it can be handed over in a form someone else can read: a
// supervisory authority, a court, a successor system, or the person the data
// is about. ISO/IEC TS 27560 is the only international structure for that,
// and the DPV rendering makes it machine-readable without inventing field
// names of our own.
//
// # What this package produces
//
// [Record] returns the consent record: header, processing (one dpv:Process
// for the business purpose), parties (the controller and any recipients) and
// the ordered consent events. [Receipt] returns the short receipt the person
// can download from the preference center: the receipt header wrapping a
// summary of the record (purpose, channels, current consent state, how to
// withdraw). Both take the same [Input], validate it first (see
// [Input.Validate]) and are deterministic: the same input gives the same
// bytes, so golden files and content hashes of exports work.
//
// # Sources followed
//
// The field structure, required fields and JSON keys follow the DPVCG
// "Consent Records and Receipts as per ISO/IEC TS 27560:2023 using DPV",
// Final Community Group Report of 2024-08-01
// (https://www.w3.org/community/reports/dpvcg/CG-FINAL-guide-27560-20240801/,
// latest at https://w3id.org/dpv/guides/consent-27560, source
// guides/consent-27560.html in github.com/w3c/dpv), with the profile IRIs of
// "DPV Schemas for implementing Consent Records and Receipts as per ISO/IEC
// 27560:2023" (https://w3id.org/dpv/schema/dpv-27560, source
// schema/dpv-27560.html and schema/dpv-27560.ttl in github.com/w3c/dpv).
// Concept IRIs are those of DPV 2.x: dpv (https://w3id.org/dpv#), pd
// (https://w3id.org/dpv/pd#), loc (https://w3id.org/dpv/loc#) and eu-gdpr
// (https://w3id.org/dpv/legal/eu/gdpr#); the DPV 1.x prefix dpv-gdpr is no
// longer used by the guide. The ISO text itself is not freely available and
// was not used; field names are DPV's, not ISO's snake_case names.
//
// The DPVCG does not publish JSON Schemas for these profiles: the profiles
// dpv-27560#record, #record-eu-gdpr, #receipt and #receipt-eu-gdpr exist only
// as IRIs whose requirements are the prose of the guide. The JSON Schemas in
// testdata/schema were therefore written for fairlead from the guide's MUST
// fields (each required list says which section it comes from) and are used
// by the tests to keep the output from drifting; see
// testdata/schema/SOURCES.md.
//
// # Decisions and assumptions
//
// Where the guide is silent, ambiguous or contradicts itself, this package
// decides as follows.
//
//   - Record profile: dct:conformsTo is https://w3id.org/dpv/schema/dpv-27560#record.
//     The GDPR profile (#record-eu-gdpr) is not claimed because the guide
//     does not list which extra fields it requires.
//   - Receipt profile: the guide's only "summary" receipt is an example
//     conforming to a placeholder (https://example.com/receipt-summary); an
//     older editor's draft named https://w3id.org/dpv/schema/iso-27560#receipt-summary,
//     which was never published. DPV's own #receipt profile means "a copy of
//     the full record", which the summary is not. The summary therefore
//     states conformance to fairlead's own profile [ReceiptSummaryProfile]
//     and follows the structure of the guide's summary example:
//     dpv:ConsentReceipt with dct:identifier, dct:conformsTo, dct:created,
//     dct:publisher, schema:recipient and dpv:hasRecordOfActivity holding a
//     dpv:ConsentRecord with dpv:hasPurpose and the current
//     dpv:hasConsentStatus. It adds the controller's identity and contact,
//     the withdrawal link and the rights, because the person needs them.
//   - Identifiers: the guide's tables name dpv:hasIdentifier, its text and
//     complete examples use dct:identifier; both are written with the same
//     value. Record, receipt and data subject get urn:uuid: IRIs as @id. The
//     receipt ID, when not given, is a name-based UUID (version 5) of the
//     record ID and version, so re-issuing the same record version gives the
//     same receipt.
//   - Data subject: only the pseudonymous contact UUID, never an e-mail
//     address or phone number (the guide calls using the e-mail "not
//     recommended"; ISO/IEC TS 27560 recommends pseudonymisation).
//   - Placement: notices and the consent events sit at record level; purpose,
//     personal data, controller, recipients, legal basis, storage,
//     jurisdiction, withdrawal (dpv:hasConsentControl) and rights sit in the
//     single dpv:Process, as in the guide's "Processing Fields" section; the
//     controller is also named at record level (dpv:hasDataController,
//     dct:publisher), as in the guide's complete examples. The controller is
//     always a recipient, since 27560 requires at least one.
//   - Postal address: the guide's table puts it under schema:contactPoint
//     (as a schema:PostalAddress, which is a schema:ContactPoint), its text
//     says schema:address; the table and the example are followed.
//   - Legal basis: lawful bases map to the eu-gdpr concepts (art6_1_a →
//     eu-gdpr:A6-1-a … art6_1_f → eu-gdpr:A6-1-f, art9_2_a → eu-gdpr:A9-2-a);
//     a consent record accepts only the consent bases A6-1-a and A9-2-a.
//     The consent type written on given events is dpv:ExpressedConsent, or
//     dpv:ExplicitlyExpressedConsent when the purpose asks for explicit
//     consent (UWG § 7(2) Nr. 1 "ausdrückliche Einwilligung", GDPR Art. 9).
//   - States: requested → dpv:ConsentRequested, confirmed → dpv:ConsentGiven
//     (dpv:RenewedConsentGiven when consent was already given), withdrawn →
//     dpv:ConsentWithdrawn. The input's current status (pending, given,
//     withdrawn) must agree with the events.
//   - Event duration (MUST in the guide): an explicit ISO 8601 period when
//     the ledger has one (dpv:TemporalDuration), otherwise "until the request
//     is answered" for requests and "until withdrawn" for given consent
//     (dpv:UntilEventDuration), and dpv:EndlessDuration for a withdrawal.
//   - Expression by entity: requests are indicated by the controller, given
//     and withdrawn consent by the data subject (dpv:DataSubject, as in the
//     guide). Who entered the event into the ledger is dct:creator.
//   - Expression method (dpv:hasIndicationMethod, free text in the guide)
//     carries fairlead's method code, e.g. "email_doi"; see [Method].
//   - Notice: each event names the notice version shown, as a
//     dpv:ConsentNotice with dct:identifier (version), schema:url,
//     dct:language and schema:sha256. schema:sha256 carries the ledger's
//     notice version hash (SHA-256 over the ledger's canonical encoding of
//     the notice), not a hash of whatever the URL serves today. The record
//     also lists every distinct notice version at top level.
//   - Values that are concepts (dpv:…, pd:…, loc:…) are written as compact
//     IRIs in strings, exactly as in the guide's examples; the @context
//     declares the prefixes but no term definitions, so a JSON-LD processor
//     reads those values as strings unless it applies its own context.
//   - Extensions: the guide has no field for the communication channel, the
//     text shown next to the checkbox or the collection point. They are
//     written as fairlead:channel, fairlead:textShown and dct:source (with
//     dct:type "form", "api_client" or "manual" and dct:identifier), where
//     the prefix fairlead is [ExtensionNamespace]. ISO/IEC TS 27560 allows
//     such extensions.
//   - Timestamps are ISO 8601 in UTC (RFC 3339, "Z").
package consentrecord
