// The Retry dialog says which attempt the retry will be and which steps it runs,
// in sentences; shows its hints whole; starts from the order's current payment
// method and address; and sends only a complete address with a two-letter country.

#include "retrydialog.h"
#include "sagastatus.h"

#include <QApplication>
#include <QDialogButtonBox>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QStyle>
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

QPushButton *okButton(const RetryDialog &dialog)
{
    auto *box = dialog.findChild<QDialogButtonBox *>();
    return box ? box->button(QDialogButtonBox::Ok) : nullptr;
}

// The address group's line edit whose row label is `label`.
QLineEdit *addressEdit(const RetryDialog &dialog, const QString &label)
{
    const auto labels = dialog.addressGroup()->findChildren<QLabel *>();
    for (QLabel *l : labels) {
        if (QString(l->text()).remove(QLatin1Char('&')).remove(QLatin1Char('*')) == label)
            return qobject_cast<QLineEdit *>(l->buddy());
    }
    return nullptr;
}

ShippingAddress oregon()
{
    return ShippingAddress{QStringLiteral("742 Evergreen Terrace"), QStringLiteral("Springfield"),
                           QStringLiteral("OR"), QStringLiteral("97403"), QStringLiteral("US")};
}
} // namespace

class tst_RetryDialog : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void introNamesTheAttemptAndTheSteps_data();
    void introNamesTheAttemptAndTheSteps();
    void paymentHintIsShownWhole();
    void startsFromTheCurrentPaymentMethodAndAddress();
    void injectedFailureRetriesAsItIs();
    void correctedAddressIsChecked_data();
    void correctedAddressIsChecked();
    void pastedTextIsCheckedBySagaServersRules_data();
    void pastedTextIsCheckedBySagaServersRules();
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

void tst_RetryDialog::paymentHintIsShownWhole()
{
    RetryDialog dialog(QStringLiteral("ORD-1"), eligibility(0));
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    QLineEdit *payment = dialog.paymentMethodEdit();
    payment->clear();
    const QString hint = payment->placeholderText();
    QVERIFY(!hint.isEmpty());
    const int frame = payment->style()->pixelMetric(QStyle::PM_DefaultFrameWidth, nullptr, payment);
    const int room = payment->width() - 2 * frame - 4; // QLineEdit's horizontal text margins
    const int needed = payment->fontMetrics().horizontalAdvance(hint);
    QVERIFY2(room >= needed, qPrintable(QStringLiteral("'%1' needs %2 px, has %3").arg(hint).arg(needed).arg(room)));
}

void tst_RetryDialog::startsFromTheCurrentPaymentMethodAndAddress()
{
    // Not asked to change anything: the fields show what the order has, the
    // request carries no correction.
    {
        RetryDialog dialog(QStringLiteral("ORD-1"), eligibility(0));
        dialog.setCurrentOrder(QStringLiteral("pm-visa-4242"), oregon());
        QCOMPARE(dialog.paymentMethodEdit()->text(), QStringLiteral("pm-visa-4242"));
        QCOMPARE(addressEdit(dialog, QStringLiteral("Street:"))->text(), oregon().street);
        QCOMPARE(addressEdit(dialog, QStringLiteral("Postal code:"))->text(), oregon().postalCode);
        QCOMPARE(addressEdit(dialog, QStringLiteral("Country:"))->text(), oregon().country);
        QVERIFY(!dialog.addressGroup()->isChecked());
        QVERIFY(okButton(dialog)->isEnabled());
        const RetryRequest r = dialog.request(QUuid::createUuid());
        QVERIFY(!r.paymentMethodId);
        QVERIFY(!r.shippingAddress);
    }
    // Declined card: the current one is shown but a different one is needed.
    {
        RetryDialog dialog(QStringLiteral("ORD-2"), eligibility(0, {QStringLiteral("UPDATE_PAYMENT_METHOD")}));
        dialog.setCurrentOrder(QStringLiteral("declined-card"), oregon());
        QVERIFY(!okButton(dialog)->isEnabled());
        dialog.paymentMethodEdit()->setText(QStringLiteral("declined-card"));
        QVERIFY(!okButton(dialog)->isEnabled());
        dialog.paymentMethodEdit()->setText(QStringLiteral("pm-visa-4242"));
        QVERIFY(okButton(dialog)->isEnabled());
        QCOMPARE(dialog.request(QUuid::createUuid()).paymentMethodId.value_or(QString()), QStringLiteral("pm-visa-4242"));
    }
    // Bad address: the form starts from the current address, ready to correct.
    {
        RetryDialog dialog(QStringLiteral("ORD-3"), eligibility(0, {QStringLiteral("UPDATE_SHIPPING_ADDRESS")}));
        ShippingAddress bad = oregon();
        bad.postalCode = QStringLiteral("00000");
        dialog.setCurrentOrder(QStringLiteral("pm-visa-4242"), bad);
        QVERIFY(dialog.addressGroup()->isChecked());
        QCOMPARE(addressEdit(dialog, QStringLiteral("City:"))->text(), bad.city);
        QVERIFY(!okButton(dialog)->isEnabled()); // unchanged: it is the address that failed
        addressEdit(dialog, QStringLiteral("Postal code:"))->setText(QStringLiteral("97403"));
        QVERIFY(okButton(dialog)->isEnabled());
        QCOMPARE(dialog.request(QUuid::createUuid()).shippingAddress.value_or(ShippingAddress{}), oregon());
    }
}

// A failure injected by the Failure Injection panel (INVALID_ADDRESS, a declined
// card) is not the order's: the correction its code asks for is offered, not
// required, and the intro says why instead of "after the required corrections".
void tst_RetryDialog::injectedFailureRetriesAsItIs()
{
    ShippingAddress bad = oregon();
    bad.postalCode = QStringLiteral("00000");
    for (const QString &action : {QStringLiteral("UPDATE_SHIPPING_ADDRESS"), QStringLiteral("UPDATE_PAYMENT_METHOD")}) {
        RetryDialog dialog(QStringLiteral("ORD-5"), eligibility(0, {action}));
        QVERIFY(dialog.isCorrectionRequired());
        dialog.setFailureInjected();
        dialog.setCurrentOrder(QStringLiteral("declined-card"), bad);
        QVERIFY(!dialog.isCorrectionRequired());
        QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.problemText()));
        QVERIFY(okButton(dialog)->isEnabled());
        QVERIFY(!dialog.addressGroup()->isChecked());
        QCOMPARE(dialog.paymentMethodEdit()->text(), QStringLiteral("declined-card"));
        const RetryRequest r = dialog.request(QUuid::createUuid());
        QVERIFY(!r.paymentMethodId);
        QVERIFY(!r.shippingAddress);
        const QString intro = introLabel(dialog)->text();
        QVERIFY2(intro.contains(QLatin1String("injected")), qPrintable(intro));
        QVERIFY2(!intro.contains(QLatin1String("required corrections")), qPrintable(intro));
        // A correction can still be made and is sent.
        dialog.addressGroup()->setChecked(true);
        addressEdit(dialog, QStringLiteral("Postal code:"))->setText(QStringLiteral("97403"));
        QVERIFY(okButton(dialog)->isEnabled());
        QCOMPARE(dialog.request(QUuid::createUuid()).shippingAddress.value_or(ShippingAddress{}), oregon());
    }
}

void tst_RetryDialog::correctedAddressIsChecked_data()
{
    QTest::addColumn<QString>("field");
    QTest::addColumn<QString>("typed");
    QTest::addColumn<bool>("acceptable");
    QTest::addColumn<QString>("sent"); // what the request carries when acceptable
    QTest::newRow("country 1") << "Country:" << "1" << false << "";
    QTest::newRow("country G") << "Country:" << "G" << false << "";
    QTest::newRow("country g1") << "Country:" << "g1" << false << "";
    QTest::newRow("country gb") << "Country:" << "gb" << true << "GB";
    QTest::newRow("country DE") << "Country:" << "DE" << true << "DE";
    QTest::newRow("blank street") << "Street:" << "  " << false << "";
    QTest::newRow("blank city") << "City:" << " " << false << "";
    QTest::newRow("blank state") << "State:" << " " << false << "";
    QTest::newRow("blank postal code") << "Postal code:" << " " << false << "";
    QTest::newRow("postal code over 32") << "Postal code:" << QString(33, QLatin1Char('1')) << false << "";
    QTest::newRow("postal code SW1A 1AA") << "Postal code:" << "SW1A 1AA" << true << "SW1A 1AA";
}

void tst_RetryDialog::correctedAddressIsChecked()
{
    QFETCH(QString, field);
    QFETCH(QString, typed);
    QFETCH(bool, acceptable);
    QFETCH(QString, sent);
    RetryDialog dialog(QStringLiteral("ORD-4"), eligibility(0, {QStringLiteral("UPDATE_SHIPPING_ADDRESS")}));
    const ShippingAddress a = oregon();
    const QStringList labels{"Street:", "City:", "State:", "Postal code:", "Country:"};
    const QStringList values{a.street, a.city, a.state, "97404", a.country};
    for (int i = 0; i < labels.size(); ++i) {
        QLineEdit *edit = addressEdit(dialog, labels.at(i));
        QVERIFY2(edit, qPrintable(labels.at(i)));
        edit->setText(values.at(i));
    }
    QVERIFY(dialog.addressGroup()->isChecked());
    QVERIFY(okButton(dialog)->isEnabled());

    QLineEdit *edit = addressEdit(dialog, field);
    edit->clear();
    QTest::keyClicks(edit, typed); // as a user types it (a validator may refuse keys)
    QCOMPARE(okButton(dialog)->isEnabled(), acceptable);
    QCOMPARE(dialog.isAcceptable(), acceptable);
    if (acceptable) {
        const RetryRequest r = dialog.request(QUuid::createUuid());
        QVERIFY(r.shippingAddress);
        const ShippingAddress &got = *r.shippingAddress;
        QCOMPARE(field == QLatin1String("Country:") ? got.country : got.postalCode, sent);
    } else {
        const QString why = dialog.problemText();
        QVERIFY2(why.startsWith(QString(field).remove(QLatin1Char(':'))), qPrintable(why));
    }
}

void tst_RetryDialog::pastedTextIsCheckedBySagaServersRules_data()
{
    QTest::addColumn<QString>("field");
    QTest::addColumn<QString>("pasted");
    QTest::addColumn<QString>("problem"); // empty: acceptable
    QTest::newRow("payment method of 256") << "Payment method" << QString(256, QLatin1Char('p')) << "";
    QTest::newRow("payment method of 257")
        << "Payment method" << QString(257, QLatin1Char('p')) << "Payment method must be at most 256 characters.";
    QTest::newRow("street of 257") << "Street:" << QString(257, QLatin1Char('s'))
                                   << "Street must be at most 256 characters.";
    QTest::newRow("street with NUL") << "Street:" << QStringLiteral("Main St") + QChar(0) + QStringLiteral("1")
                                     << "Street must not contain NUL characters (\\u0000).";
    QTest::newRow("city with NUL") << "City:" << QString(QChar(0)) + QStringLiteral("Salem")
                                   << "City must not contain NUL characters (\\u0000).";
}

// Text a user pastes (setText: no key filtering) is held to what saga-server takes,
// so the dialog never sends a retry the server answers with 400.
void tst_RetryDialog::pastedTextIsCheckedBySagaServersRules()
{
    QFETCH(QString, field);
    QFETCH(QString, pasted);
    QFETCH(QString, problem);
    RetryDialog dialog(QStringLiteral("ORD-5"),
                       eligibility(0, {QStringLiteral("UPDATE_PAYMENT_METHOD"), QStringLiteral("UPDATE_SHIPPING_ADDRESS")}));
    dialog.paymentMethodEdit()->setText(QStringLiteral("pm-visa-4242"));
    const ShippingAddress a = oregon();
    const QStringList labels{"Street:", "City:", "State:", "Postal code:", "Country:"};
    const QStringList values{a.street, a.city, a.state, a.postalCode, a.country};
    for (int i = 0; i < labels.size(); ++i)
        addressEdit(dialog, labels.at(i))->setText(values.at(i));
    QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.problemText()));

    QLineEdit *edit = field == QLatin1String("Payment method") ? dialog.paymentMethodEdit() : addressEdit(dialog, field);
    QVERIFY(edit);
    edit->setText(pasted);
    QCOMPARE(edit->text(), pasted); // nothing cut off on the way in
    QCOMPARE(dialog.problemText(), problem);
    QCOMPARE(dialog.isAcceptable(), problem.isEmpty());
    QCOMPARE(okButton(dialog)->isEnabled(), problem.isEmpty());
}

QTEST_MAIN(tst_RetryDialog)
#include "tst_retrydialog.moc"
