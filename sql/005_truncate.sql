-- PgMultiMaster catalog, version 5: a TRUNCATE the target refuses is parked too.
-- Its dead-letter row names the tables and the options in new_row: {"tables": ["public.a", ...], "restart_identity": bool}.
ALTER TABLE pgmm.dead_letter DROP CONSTRAINT dead_letter_operation_check;
ALTER TABLE pgmm.dead_letter ADD CONSTRAINT dead_letter_operation_check CHECK (operation IN ('insert', 'update', 'delete', 'truncate'));
