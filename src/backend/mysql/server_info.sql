SELECT VERSION(), @@secure_file_priv, @@local_infile, @@tmpdir
