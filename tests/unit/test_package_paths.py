"""What the product reads from its checkout is found from where its modules now live."""

from __future__ import annotations


def test_what_the_product_reads_from_the_checkout_is_where_its_modules_say():
    """Moving a module one folder down once left its path to the baselines one level short."""
    from cloudgate.hypervisor.baselines import DEFAULT_DIR

    assert (DEFAULT_DIR / "hypervisor.yaml").is_file(), DEFAULT_DIR
