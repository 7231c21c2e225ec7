module numago/bench/rss

go 1.19
