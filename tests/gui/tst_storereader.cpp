// StoreReader's thread and worker: a job runs in the reader's thread and its
// result comes back; a reader destroyed (started or not) leaves nothing behind.

#include "sagastore.h"
#include "storereader.h"
#include "testservices.h"

#include <QSignalSpy>
#include <QTest>
#include <QThread>
#include <memory>

namespace {
constexpr int kTimeout = 30000;

DatabaseUrl sqliteIn(const QString &name)
{
    return *DatabaseUrl::parse(QStringLiteral("sqlite:") + TestServices::tempDir() + QLatin1Char('/') + name,
                               nullptr);
}
} // namespace

class tst_StoreReader : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void jobRunsInTheReadersThread();
    void destroyedBeforeStartLeavesNothingBehind();
};

// A started reader runs a job in its own thread, hands the result back in the
// caller's thread, and lets go of the job when it is destroyed.
void tst_StoreReader::jobRunsInTheReadersThread()
{
    auto held = std::make_shared<int>(0);
    QThread *jobThread = nullptr;
    int answer = 0;
    {
        StoreReader reader(sqliteIn(QStringLiteral("started.sqlite")), QStringLiteral("tst-storereader-started"));
        QSignalSpy opened(&reader, &StoreReader::opened);
        QVERIFY(opened.isValid());
        reader.start();
        QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 1, kTimeout); // the file does not exist: read-only, not opened
        reader.run(
            [held, &jobThread](SagaStore &) {
                jobThread = QThread::currentThread();
                return 42;
            },
            this, [&answer](int result) { answer = result; });
        QTRY_COMPARE_WITH_TIMEOUT(answer, 42, kTimeout);
        QVERIFY(jobThread);
        QVERIFY(jobThread != QThread::currentThread());
    }
    QCOMPARE(held.use_count(), 1);
}

// A source replaced or closed before its engine or database was up destroys a
// reader that was never started: its worker (moved to a thread that never ran,
// so no QThread::finished to delete it) and the jobs queued for it went with it
// only since ~StoreReader deletes it. Before, they leaked: the job below stayed
// held, and the sanitizer build (scripts/sanitize.sh) reported the worker as a
// leak (tst_embeddedconsole::retriedOrderStaysTheOneShown ends that way).
void tst_StoreReader::destroyedBeforeStartLeavesNothingBehind()
{
    auto held = std::make_shared<int>(0);
    bool answered = false;
    {
        StoreReader reader(sqliteIn(QStringLiteral("never.sqlite")), QStringLiteral("tst-storereader-never"));
        reader.run([held](SagaStore &) { return 1; }, this, [&answered](int) { answered = true; });
        QCOMPARE(held.use_count(), 2); // queued for the worker
    }
    QCOMPARE(held.use_count(), 1);
    QCoreApplication::processEvents();
    QVERIFY(!answered); // never ran
}

QTEST_GUILESS_MAIN(tst_StoreReader)
#include "tst_storereader.moc"
