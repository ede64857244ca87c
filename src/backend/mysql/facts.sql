SHOW GLOBAL VARIABLES WHERE Variable_name IN ('wsrep_on', 'wsrep_node_name', 'log_bin', 'log_bin_trust_function_creators', 'wsrep_mode')
