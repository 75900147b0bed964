/*
 * osu_p2p.c - the native side of bench/compare: the same point-to-point benchmarks, sizes, iteration
 * counts and output format (OSU's "# Size  Latency (us)" / "Bandwidth (MB/s)") as SharpMpi.Bench, so
 * both run the identical workload.
 *   mpirun -n 2 osu_p2p latency|bw|bibw [-m min:max] [-i iterations] [-x warmup] [-W window]
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long parse_size(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == 'K' || *end == 'k') v *= 1024;
    else if (*end == 'M' || *end == 'm') v *= 1024 * 1024;
    else if (*end == 'G' || *end == 'g') v *= 1024L * 1024 * 1024;
    return v;
}

int main(int argc, char **argv)
{
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *verb = argc > 1 ? argv[1] : "latency";
    long minsz = 0, maxsz = 4L << 20;
    int iterations = 0, warmup = -1, window = 64;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) {
            char *colon = strchr(argv[i + 1], ':');
            if (colon) { *colon = 0; minsz = parse_size(argv[i + 1]); maxsz = parse_size(colon + 1); }
            else maxsz = parse_size(argv[i + 1]);
        } else if (!strcmp(argv[i], "-i")) iterations = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-x")) warmup = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-W")) window = atoi(argv[i + 1]);
    }
    int bandwidth = strcmp(verb, "latency") != 0, bidir = !strcmp(verb, "bibw");
    char *sbuf = aligned_alloc(4096, ((maxsz > 0 ? maxsz : 1) + 4095) / 4096 * 4096);
    char *rbuf = aligned_alloc(4096, ((maxsz > 0 ? maxsz : 1) + 4095) / 4096 * 4096);
    memset(sbuf, 1, maxsz > 0 ? maxsz : 1);
    memset(rbuf, 2, maxsz > 0 ? maxsz : 1);
    MPI_Request *req = malloc(sizeof(MPI_Request) * 2 * window);
    char ack = 0;
    if (rank == 0) {
        if (!bandwidth) printf("# OSU MPI Latency Test (native)\n# Datatype: MPI_CHAR.\n%-10s%20s\n", "# Size", "Latency (us)");
        else printf("# OSU MPI %sBandwidth Test (native)\n# Datatype: MPI_CHAR.\n%-10s%20s\n", bidir ? "Bi-Directional " : "", "# Size", "Bandwidth (MB/s)");
    }
    for (long sz = minsz; sz <= maxsz; sz = sz == 0 ? 1 : sz * 2) {
        if (sz == 0 && minsz > 0) continue;
        int iters = iterations > 0 ? iterations : bandwidth ? (sz > 8192 ? 20 : 100) : (sz > 8192 ? 1000 : 10000);
        int warm = warmup >= 0 ? warmup : bandwidth ? (sz > 8192 ? 2 : 10) : (sz > 8192 ? 100 : 1000);
        double t0 = 0;
        MPI_Barrier(MPI_COMM_WORLD);
        for (int i = 0; i < iters + warm; i++) {
            if (i == warm) t0 = MPI_Wtime();
            if (!bandwidth) {
                if (rank == 0) {
                    MPI_Send(sbuf, (int)sz, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
                    MPI_Recv(rbuf, (int)sz, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                } else if (rank == 1) {
                    MPI_Recv(rbuf, (int)sz, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                    MPI_Send(sbuf, (int)sz, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
                }
            } else if (rank < 2) {
                int n = 0, other = 1 - rank;
                if (rank == 1 || bidir)
                    for (int w = 0; w < window; w++) MPI_Irecv(rbuf, (int)sz, MPI_CHAR, other, rank == 1 ? 1 : 2, MPI_COMM_WORLD, &req[n++]);
                if (rank == 0 || bidir)
                    for (int w = 0; w < window; w++) MPI_Isend(sbuf, (int)sz, MPI_CHAR, other, rank == 0 ? 1 : 2, MPI_COMM_WORLD, &req[n++]);
                MPI_Waitall(n, req, MPI_STATUSES_IGNORE);
                if (rank == 0) MPI_Recv(&ack, 1, MPI_CHAR, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                else MPI_Send(&ack, 1, MPI_CHAR, 0, 3, MPI_COMM_WORLD);
            }
        }
        double secs = MPI_Wtime() - t0;
        if (rank == 0) {
            if (!bandwidth) printf("%-10ld%20.2f\n", sz, secs * 1e6 / (2.0 * iters));
            else printf("%-10ld%20.2f\n", sz, (double)sz * window * iters * (bidir ? 2 : 1) / secs / 1e6);
            fflush(stdout);
        }
    }
    free(req);
    free(sbuf);
    free(rbuf);
    MPI_Finalize();
    return 0;
}
