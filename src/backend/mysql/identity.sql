SELECT @@hostname, @@port, @@datadir, @@lower_case_table_names, VERSION()
