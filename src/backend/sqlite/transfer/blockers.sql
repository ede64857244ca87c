-- The SQL twins of rows::to_cell: for each portable type, the condition under which a non-NULL
-- value of column {c} converts to a cell of that type. Sections start with `-- @name`; {c} is
-- the quoted column, {n} a length, {k} the integer digits (precision - scale) written as the
-- exponent of a bound, {s} a scale. Every text rule also excludes a zero byte, which ends text
-- for SQLite's length() and GLOB but not for the reader.

-- @zero_byte
typeof({c}) = 'text' AND instr({c}, char(0)) > 0

-- @integer
typeof({c}) = 'integer'

-- @boolean
typeof({c}) = 'integer' AND {c} IN (0, 1)

-- @float
-- Integers are exact in a double up to 2^53.
typeof({c}) = 'real'
OR (typeof({c}) = 'integer' AND {c} BETWEEN -9007199254740992 AND 9007199254740992)

-- @decimal
-- Any integer, any finite real (9e999 is infinity to SQLite).
typeof({c}) = 'integer' OR (typeof({c}) = 'real' AND abs({c}) < 9e999)

-- @decimal_bounded
-- A real fits the scale when rounding to it gives the same double back: its shortest text has
-- at most {s} decimals.
(typeof({c}) = 'integer' OR (typeof({c}) = 'real' AND round({c}, {s}) = {c}))
AND {c} > -1e{k} AND {c} < 1e{k}

-- @text
typeof({c}) = 'text'

-- @text_bounded
typeof({c}) = 'text' AND length({c}) <= {n}

-- @bytes
typeof({c}) IN ('blob', 'text')

-- @bytes_bounded
typeof({c}) IN ('blob', 'text') AND length(CAST({c} AS BLOB)) <= {n}

-- @date
-- date() gives a real day back unchanged; it moves 02-30 on to March and refuses month 13.
typeof({c}) = 'text' AND instr({c}, char(0)) = 0
AND {c} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'
AND date({c}) IS {c}

-- @date_zero
typeof({c}) = 'text' AND instr({c}, char(0)) = 0
AND {c} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'
AND (substr({c}, 6, 2) = '00' OR substr({c}, 9, 2) = '00')

-- @datetime_shape
-- YYYY-MM-DD, then ' ' or 'T' and HH:MM, HH:MM:SS or HH:MM:SS.f (1-6 digits), a time of day
-- (SQLite's datetime() lets hour 24 through, hence the field bounds).
typeof({c}) = 'text' AND instr({c}, char(0)) = 0
AND (
  (length({c}) = 10 AND {c} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]')
  OR (length({c}) = 16
      AND {c} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][ T][0-9][0-9]:[0-9][0-9]')
  OR (length({c}) = 19
      AND {c} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][ T][0-9][0-9]:[0-9][0-9]:[0-9][0-9]')
  OR (length({c}) BETWEEN 21 AND 26
      AND {c} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][ T][0-9][0-9]:[0-9][0-9]:[0-9][0-9].*'
      AND substr({c}, 21) NOT GLOB '*[^0-9]*')
)
AND (length({c}) = 10
     OR (substr({c}, 12, 2) <= '23' AND substr({c}, 15, 2) <= '59'
         AND (length({c}) = 16 OR substr({c}, 18, 2) <= '59')))

-- @datetime
({datetime_shape}) AND date(substr({c}, 1, 10)) IS substr({c}, 1, 10)

-- @datetime_zero
({datetime_shape}) AND (substr({c}, 6, 2) = '00' OR substr({c}, 9, 2) = '00')

-- @time
typeof({c}) = 'text' AND instr({c}, char(0)) = 0
AND (
  (length({c}) = 5 AND {c} GLOB '[0-9][0-9]:[0-9][0-9]')
  OR (length({c}) = 8 AND {c} GLOB '[0-9][0-9]:[0-9][0-9]:[0-9][0-9]')
  OR (length({c}) BETWEEN 10 AND 15 AND {c} GLOB '[0-9][0-9]:[0-9][0-9]:[0-9][0-9].*'
      AND substr({c}, 10) NOT GLOB '*[^0-9]*')
)
AND substr({c}, 1, 2) <= '23' AND substr({c}, 4, 2) <= '59'
AND (length({c}) = 5 OR substr({c}, 7, 2) <= '59')

-- @json
-- JSON's declared type has NUMERIC affinity: a bare JSON number is stored as a number.
(typeof({c}) = 'text' AND json_valid({c}))
OR typeof({c}) = 'integer'
OR (typeof({c}) = 'real' AND abs({c}) < 9e999)

-- @uuid
(typeof({c}) = 'blob' AND length({c}) = 16)
OR (typeof({c}) = 'text' AND instr({c}, char(0)) = 0
    AND (length({c}) = 32
         OR (length({c}) = 36 AND substr({c}, 9, 1) = '-' AND substr({c}, 14, 1) = '-'
             AND substr({c}, 19, 1) = '-' AND substr({c}, 24, 1) = '-'))
    AND length(replace({c}, '-', '')) = 32
    AND replace({c}, '-', '') NOT GLOB '*[^0-9a-fA-F]*')
