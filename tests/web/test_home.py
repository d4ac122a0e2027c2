def test_home_lists_the_permissions_held_in_the_current_account(client, world):
    client.force_login(world.acme.users["support"])
    page = client.get("/").content.decode()
    assert "Search transactions by mobile number" in page
    assert "Send SMS" not in page
    client.force_login(world.acme.master)
    assert "Manage users" in client.get("/").content.decode()


def test_staff_land_on_the_customer_list(client, world):
    client.force_login(world.staff["csr"])
    assert client.get("/").url == "/staff/customers/"
