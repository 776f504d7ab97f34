ALTER TABLE "mfa_devices" ALTER COLUMN "secret" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "mfa_devices" ADD COLUMN "secret_ciphertext" text;--> statement-breakpoint
ALTER TABLE "mfa_devices" ADD COLUMN "secret_key_id" text;--> statement-breakpoint
ALTER TABLE "mfa_devices" ADD CONSTRAINT "mfa_devices_secret_present_check" CHECK ("mfa_devices"."secret" is not null or ("mfa_devices"."secret_ciphertext" is not null and "mfa_devices"."secret_key_id" is not null));