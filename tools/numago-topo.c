/* numago-topo — the Ps, NUMA nodes, distances, victim orders and bindings
 * numago would use on this machine or on a given synthetic/XML topology.
 *
 *   numago-topo                                  this machine
 *   numago-topo "synthetic:pack:2 numa:2 core:4 pu:2"
 *   numago-topo xml:topo.xml --procs 8 --blind
 */
#define _GNU_SOURCE
#include <numago.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *class_name[NG_DIST_NCLASSES] = {"self", "core",    "L2",    "L3",
                                                   "node", "package", "remote"};

static void usage(FILE *f)
{
	fprintf(f, "usage: numago-topo [synthetic:<hwloc synthetic>|xml:<file>] [--procs N] "
	           "[--blind] [--no-bind]\n"
	           "Prints the Ps numago would run with, their PUs and NUMA nodes, the "
	           "distance classes\nbetween Ps, each P's victim order and the bindings "
	           "(recorded, not made, on a fake topology).\n");
}

static void print_pus(const int *pus, int n)
{
	for (int i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", pus[i]);
}

static void touch(void *arg)
{
	ng_waitgroup_done(arg);
}

int main(int argc, char **argv)
{
	ng_config cfg = {0};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--procs") == 0 && i + 1 < argc) {
			cfg.procs = atoi(argv[++i]);
			if (cfg.procs < 1) {
				fprintf(stderr, "numago-topo: --procs needs a positive number\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--blind") == 0) {
			cfg.locality = -1;
		} else if (strcmp(argv[i], "--no-bind") == 0) {
			cfg.bind = 0;
			cfg.bind_set = 1;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] != '-' && cfg.topology == NULL) {
			cfg.topology = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	int rc = ng_start(&cfg);
	if (rc != 0) {
		fprintf(stderr, "numago-topo: cannot start the runtime: %s\n", strerror(-rc));
		return 1;
	}
	int np = ng_procs(), nn = ng_topo_nnodes();
	/* One goroutine on every P, so each P has had an M (and a binding). */
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	for (int p = 0; p < np; p++) {
		ng_go_attr attr = NG_GO_ATTR_INIT;
		attr.proc = p;
		ng_waitgroup_add(&wg, 1);
		if (ng_go_attr(&attr, touch, &wg) != 0)
			ng_waitgroup_done(&wg);
	}
	ng_waitgroup_wait(&wg);

	printf("topology: %s%s\n", cfg.topology ? cfg.topology : "this machine",
	       ng_topo_is_fake() ? " (fake: bindings are recorded, not made)" : "");
	printf("Ps: %d on %d PUs, NUMA nodes: %d, locality: %s\n", np, ng_topo_npus(), nn,
	       ng_topo_locality() ? "on" : "off (blind)");
	int *buf = malloc(sizeof(int) * (size_t)(np > 64 ? np : 64) * 4);
	if (buf == NULL)
		return 1;
	printf("\nP    node  PUs\n");
	for (int p = 0; p < np; p++) {
		int n = ng_topo_proc_pus(p, buf, np * 4);
		printf("P%-3d %-5d ", p, ng_topo_proc_node(p));
		print_pus(buf, n < np * 4 ? n : np * 4);
		printf("\n");
	}
	if (nn > 1) {
		printf("\nnode distances (%s)\n     ",
		       ng_topo_node_distance(0, 0) ? "from the machine's matrix" : "no matrix");
		for (int b = 0; b < nn; b++)
			printf("%5d", b);
		printf("\n");
		for (int a = 0; a < nn; a++) {
			printf("%5d", a);
			for (int b = 0; b < nn; b++)
				printf("%5d", ng_topo_node_distance(a, b));
			printf("\n");
		}
	}
	printf("\ndistance classes between Ps (0 self, 1 core, 2 L2, 3 L3, 4 node, 5 "
	       "package, 6 remote)\n    ");
	for (int q = 0; q < np; q++)
		printf("%3d", q);
	printf("\n");
	for (int p = 0; p < np; p++) {
		printf("P%-3d", p);
		for (int q = 0; q < np; q++)
			printf("%3d", ng_topo_distance(p, q));
		printf("\n");
	}
	printf("\nvictim order (P:class)\n");
	for (int p = 0; p < np; p++) {
		int n = ng_topo_victims(p, buf, np);
		printf("P%-3d", p);
		for (int i = 0; i < n; i++)
			printf(" %d:%s", buf[i], class_name[ng_topo_distance(p, buf[i])]);
		printf("\n");
	}
	printf("\nbindings%s\n", ng_topo_is_fake() ? " (would-be)" : "");
	for (int p = 0; p < np; p++) {
		int n = ng_topo_binding(p, buf, np * 4);
		printf("P%-3d ", p);
		if (n == 0)
			printf("unbound");
		else
			print_pus(buf, n < np * 4 ? n : np * 4);
		printf("\n");
	}
	free(buf);
	ng_stop();
	return 0;
}
