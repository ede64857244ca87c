PRAGMA foreign_keys = OFF;
PRAGMA legacy_alter_table = ON;
PRAGMA cache_size = -65536;
