// The Retry dialog says which attempt the retry will be and which steps it runs,
// in sentences.

#include "retrydialog.h"
#include "sagastatus.h"

#include <QLabel>
#include <QTest>

namespace {
RetryEligibility eligibility(int retryCount, const QStringList &requiredActions = {})
{
    RetryEligibility e;
    e.eligible = true;
    e.retryCount = retryCount;
    e.maxRetries = 3;
    e.requiredActions = requiredActions;
    e.reason = requiredActions.isEmpty() ? QStringLiteral("order can be retried")
                                         : QStringLiteral("order can be retried after the required corrections");
    return e;
}

// The word-wrapped label at the top of the dialog.
QLabel *introLabel(const RetryDialog &dialog)
{
    const auto labels = dialog.findChildren<QLabel *>();
    for (QLabel *label : labels) {
        if (label->wordWrap() && label->text().contains(QLatin1String("ttempt")))
            return label;
    }
    return nullptr;
}

} // namespace

class tst_RetryDialog : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void introNamesTheAttemptAndTheSteps_data();
    void introNamesTheAttemptAndTheSteps();
};

void tst_RetryDialog::introNamesTheAttemptAndTheSteps_data()
{
    QTest::addColumn<int>("retryCount");
    QTest::addColumn<QString>("which");
    // The engine numbers executions from 1; a retry is attempt retryCount + 2.
    QTest::newRow("first retry") << 0 << "Retry 1 of 3 (attempt 2)";
    QTest::newRow("last retry") << 2 << "Retry 3 of 3 (attempt 4)";
}

void tst_RetryDialog::introNamesTheAttemptAndTheSteps()
{
    QFETCH(int, retryCount);
    QFETCH(QString, which);
    RetryDialog dialog(QStringLiteral("ORD-20260124-000042"),
                       eligibility(retryCount, {QStringLiteral("UPDATE_PAYMENT_METHOD")}));
    QLabel *intro = introLabel(dialog);
    QVERIFY(intro);
    const QString text = intro->text();
    QVERIFY2(text.contains(which), qPrintable(text));
    // What a retry runs (app/engine/retrypolicy.h): every step again, from the first.
    QVERIFY2(!text.contains(QLatin1String("resumes from the step that failed")), qPrintable(text));
    for (SagaStep step : kAllSteps)
        QVERIFY2(text.contains(stepDisplayName(step)), qPrintable(text));
    // The server's reason as a sentence of its own.
    QVERIFY2(text.contains(QLatin1String("Order can be retried after the required corrections.")), qPrintable(text));
    QVERIFY2(text.endsWith(QLatin1Char('.')), qPrintable(text));
}

QTEST_MAIN(tst_RetryDialog)
#include "tst_retrydialog.moc"
