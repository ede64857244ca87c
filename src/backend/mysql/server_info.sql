SELECT VERSION(), @@secure_file_priv, @@local_infile, @@tmpdir,
       (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME = 'WSREP_ON')
