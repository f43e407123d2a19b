-- The national index's catalogue indicators (1.1, 1.2, 1.3, 4.6, 4.7), entered by operators
-- per unit and month: the value in force, and every entry ever made (append-only).
CREATE TABLE index766_inputs (
    unit_code    text NOT NULL,
    month        date NOT NULL CHECK (extract(day FROM month) = 1),
    indicator    text NOT NULL,
    numerator    integer NOT NULL CHECK (numerator >= 0),
    denominator  integer NOT NULL CHECK (denominator >= numerator),
    entered_by   text NOT NULL,
    entered_at   timestamptz NOT NULL,
    PRIMARY KEY (unit_code, month, indicator)
);

CREATE TABLE index766_input_log (
    id           bigserial PRIMARY KEY,
    unit_code    text NOT NULL,
    month        date NOT NULL,
    indicator    text NOT NULL,
    numerator    integer NOT NULL,
    denominator  integer NOT NULL,
    entered_by   text NOT NULL,
    entered_at   timestamptz NOT NULL,
    source       text NOT NULL
);
CREATE INDEX index766_input_log_unit ON index766_input_log (unit_code, month);
CREATE RULE index766_input_log_append_only AS ON UPDATE TO index766_input_log DO INSTEAD NOTHING;
CREATE RULE index766_input_log_no_delete AS ON DELETE TO index766_input_log DO INSTEAD NOTHING;
