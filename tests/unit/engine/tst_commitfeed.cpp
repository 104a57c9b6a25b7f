// CommitFeed: the committers take batches from the front in ticket order, at most
// maxBatch, a saga's chained transitions together, shared with the committers
// woken for them; an idle committer is woken once, a busy one not at all; a broken
// one takes nothing; untaken items can be withdrawn; and under concurrent takers
// every item is taken exactly once.

#include "commitfeed.h"

#include <QtTest>

#include <atomic>
#include <thread>

namespace {

// Items whose event seq is their ticket, so a batch shows which items it holds.
std::vector<CommitFeed::Item> items(quint64 firstTicket, int count, const QSet<int> &chained = {})
{
    std::vector<CommitFeed::Item> out;
    for (int i = 0; i < count; ++i) {
        CommitFeed::Item item;
        item.transition.event.seq = int(firstTicket) + i;
        item.chainsNext = chained.contains(int(firstTicket) + i);
        out.push_back(std::move(item));
    }
    return out;
}

QVector<int> seqs(const QVector<StoreTransition> &batch)
{
    QVector<int> out;
    for (const StoreTransition &t : batch)
        out << t.event.seq;
    return out;
}

} // namespace

class tst_CommitFeed : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void takesFromTheFrontInBatchesOfAtMostMaxBatch()
    {
        CommitFeed feed(1, 4, 2);
        feed.append(10, items(10, 6));
        QCOMPARE(feed.wake(), std::vector<int>{0});
        QCOMPARE(feed.wake(), std::vector<int>{}); // woken once
        QVector<StoreTransition> batch;
        quint64 first = 0;
        QVERIFY(feed.take(0, &batch, &first));
        QCOMPARE(first, quint64(10));
        QCOMPARE(seqs(batch), (QVector<int>{10, 11, 12, 13}));
        QVERIFY(feed.take(0, &batch, &first));
        QCOMPARE(first, quint64(14));
        QCOMPARE(seqs(batch), (QVector<int>{14, 15}));
        QVERIFY(!feed.take(0, &batch, &first));
        QVERIFY(batch.isEmpty());
        QCOMPARE(feed.wake(), std::vector<int>{}); // nothing waiting
        feed.append(16, items(16, 1));
        QCOMPARE(feed.wake(), std::vector<int>{0}); // idle again after finding nothing
        QCOMPARE(feed.maxCommitting(), 1);
    }

    void aBusyCommitterIsNotWokenAndTakesWhatArrived()
    {
        CommitFeed feed(1, 512, 32);
        feed.append(0, items(0, 3));
        QCOMPARE(feed.wake(), std::vector<int>{0});
        QVector<StoreTransition> batch;
        quint64 first = 0;
        QVERIFY(feed.take(0, &batch, &first));
        QCOMPARE(batch.size(), 3);
        // While it commits, more arrives: no wake; its next take has all of it.
        feed.append(3, items(3, 2));
        feed.append(5, items(5, 4));
        QCOMPARE(feed.wake(), std::vector<int>{});
        QVERIFY(feed.take(0, &batch, &first));
        QCOMPARE(first, quint64(3));
        QCOMPARE(seqs(batch), (QVector<int>{3, 4, 5, 6, 7, 8}));
    }

    void aSagasChainedTransitionsShareABatch()
    {
        CommitFeed feed(1, 2, 1);
        // 1 chains to 2 and 2 to 3: a batch that would end at 1 runs on to 3.
        feed.append(0, items(0, 6, {1, 2}));
        QVector<StoreTransition> batch;
        quint64 first = 0;
        QVERIFY(feed.take(0, &batch, &first));
        QCOMPARE(seqs(batch), (QVector<int>{0, 1, 2, 3}));
        QVERIFY(feed.take(0, &batch, &first));
        QCOMPARE(first, quint64(4));
        QCOMPARE(seqs(batch), (QVector<int>{4, 5}));
    }

    void splitsOverTheCommittersWokenForIt()
    {
        CommitFeed feed(2, 512, 32);
        feed.append(0, items(0, 10));
        QCOMPARE(feed.wake(), std::vector<int>{0}); // ten are not worth a second
        QVector<StoreTransition> batch;
        quint64 first = 0;
        QVERIFY(feed.take(0, &batch, &first));
        QCOMPARE(batch.size(), 10);

        feed.append(10, items(10, 100));
        QCOMPARE(feed.wake(), std::vector<int>{1}); // 0 is busy and counts as one
        QVERIFY(feed.take(0, &batch, &first)); // 0 is done first: it shares with 1
        QCOMPARE(first, quint64(10));
        QCOMPARE(batch.size(), 50);
        QVector<StoreTransition> other;
        quint64 otherFirst = 0;
        QVERIFY(feed.take(1, &other, &otherFirst));
        QCOMPARE(otherFirst, quint64(60));
        QCOMPARE(other.size(), 50);
        QCOMPARE(feed.maxCommitting(), 2);

        // A share is never smaller than minSplit: 40 waiting, both woken, 32 + 8.
        QVERIFY(!feed.take(0, &batch, &first));
        QVERIFY(!feed.take(1, &other, &otherFirst));
        feed.append(110, items(110, 40));
        QCOMPARE(feed.wake(), (std::vector<int>{0, 1}));
        QVERIFY(feed.take(1, &other, &otherFirst));
        QCOMPARE(other.size(), 32);
        QVERIFY(feed.take(0, &batch, &first));
        QCOMPARE(batch.size(), 8);
        QCOMPARE(first, quint64(142));
    }

    void withdrawTakesBackWhatNoCommitterTook()
    {
        CommitFeed feed(1, 4, 1);
        feed.append(0, items(0, 10));
        QVector<StoreTransition> batch;
        quint64 first = 0;
        QVERIFY(feed.take(0, &batch, &first));
        QCOMPARE(feed.withdraw(), 6);
        QVERIFY(!feed.take(0, &batch, &first));
        QCOMPARE(feed.withdraw(), 0);
        // The orchestrator hands them over again under the same tickets.
        feed.append(4, items(4, 6));
        QVERIFY(feed.take(0, &batch, &first));
        QCOMPARE(first, quint64(4));
        QCOMPARE(seqs(batch), (QVector<int>{4, 5, 6, 7}));
    }

    void aBrokenCommitterTakesNothingUntilRepaired()
    {
        CommitFeed feed(1, 512, 1);
        feed.broke(0);
        feed.append(0, items(0, 5));
        QCOMPARE(feed.wake(), std::vector<int>{});
        QVector<StoreTransition> batch;
        quint64 first = 0;
        QVERIFY(!feed.take(0, &batch, &first));
        feed.repaired(0);
        QCOMPARE(feed.wake(), std::vector<int>{0});
        QVERIFY(feed.take(0, &batch, &first));
        QCOMPARE(batch.size(), 5);
    }

    void concurrentTakersTakeEveryItemOnceInOrder()
    {
        constexpr int kTotal = 200000;
        CommitFeed feed(2, 64, 8);
        std::atomic<bool> appending{true};
        QVector<int> takenBy[2];
        bool ordered[2] = {true, true};
        auto taker = [&](int index) {
            QVector<StoreTransition> batch;
            quint64 first = 0;
            quint64 last = 0;
            bool any = false;
            for (;;) {
                const bool more = appending.load();
                if (!feed.take(index, &batch, &first)) {
                    if (!more)
                        return; // nothing left after the last append
                    std::this_thread::yield();
                    continue;
                }
                for (int i = 0; i < batch.size(); ++i) {
                    if (batch[i].event.seq != int(first) + i || (any && first <= last))
                        ordered[index] = false;
                    takenBy[index] << batch[i].event.seq;
                }
                last = first;
                any = true;
            }
        };
        std::thread a(taker, 0);
        std::thread b(taker, 1);
        for (int t = 0; t < kTotal; t += 7)
            feed.append(quint64(t), items(quint64(t), qMin(7, kTotal - t)));
        appending = false;
        a.join();
        b.join();
        QVERIFY(ordered[0]);
        QVERIFY(ordered[1]);
        QVector<int> all = takenBy[0] + takenBy[1];
        std::sort(all.begin(), all.end());
        QCOMPARE(all.size(), kTotal);
        for (int i = 0; i < kTotal; ++i)
            QCOMPARE(all[i], i);
    }
};

QTEST_GUILESS_MAIN(tst_CommitFeed)
#include "tst_commitfeed.moc"
